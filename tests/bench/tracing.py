"""What tracing costs: the ingress's POST /orders rate and the end-to-end figures with
spans exported to Jaeger (OTLP over HTTP, the `make services` one) beside the same with the
OpenTelemetry SDK switched off (``OTEL_SDK_DISABLED=true``), in one run, alternating.

    python -m tests.bench.tracing      (after `make services`)
"""

import asyncio
import os
import statistics
import uuid

import aiohttp

from tests.support.receiver import WebhookReceiver

from .common import deployment, machine, paid_checkouts_in_view
from .e2e import Load, collect, p99
from .ingress import saturate
from .results import record

MODES = {
    "traced": {"OTEL_EXPORTER_OTLP_ENDPOINT": os.environ.get("JAEGER_OTLP_ENDPOINT", "http://127.0.0.1:4318")},
    "untraced": {"OTEL_SDK_DISABLED": "true"},
}
ROUNDS = 2
INGRESS_REQUESTS = 4000
OFFERED = 50
SECONDS = 15


async def ingress_rate(mode: str) -> float:
    stack = deployment(f"tracing-ingress-{mode}", MODES[mode])
    await stack.start("ingress")
    try:
        merchant = await stack.merchant()
        checkouts = await paid_checkouts_in_view(stack, merchant.merchant_id, INGRESS_REQUESTS + 200)
        ids = [c.id for c in checkouts]
        result = await saturate(f"ingress ({mode})", stack.base_url, merchant.api_key, ids[200:], ids[:200])
        return result.rate
    finally:
        await stack.close()


async def end_to_end(mode: str, receiver: WebhookReceiver) -> tuple[float, float]:
    """(delivered orders/s, POST -> webhook p99 in ms) at ``OFFERED`` orders/s."""
    stack = deployment(f"tracing-e2e-{mode}", MODES[mode])
    await stack.start()
    try:
        merchant = await stack.merchant()
        checkouts = await paid_checkouts_in_view(stack, merchant.merchant_id, OFFERED * SECONDS + 100)
        url = receiver.url("ok", uuid.uuid4().hex)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {merchant.api_key}"}) as session:
            load = Load(stack, session, [c.id for c in checkouts], url)
            await collect(await load.offer(10, 2), receiver, url)
            run = await load.offer(OFFERED, SECONDS)
            await collect(run, receiver, url)
        latency = p99(run.latencies()) * 1000
        print(f"  end to end ({mode}): {run.delivered_rate():.1f} orders/s delivered, p99 {latency:.0f} ms", flush=True)
        return run.delivered_rate(), latency
    finally:
        await stack.close()


async def main() -> None:
    print(f"machine: {machine()}")
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(ROUNDS):
        for mode in MODES:
            rates[mode].append(await ingress_rate(mode))
    traced, untraced = (statistics.median(rates[m]) for m in ("traced", "untraced"))
    record(
        "ingress POST/s, traced / untraced",
        traced / untraced,
        None,
        "ratio",
        traced_per_second=round(traced, 1),
        untraced_per_second=round(untraced, 1),
    )
    receiver = WebhookReceiver()
    await receiver.start()
    try:
        figures = {mode: await end_to_end(mode, receiver) for mode in MODES}
    finally:
        await receiver.stop()
    record(
        f"end-to-end p99 at {OFFERED}/s, traced / untraced",
        figures["traced"][1] / figures["untraced"][1],
        None,
        "ratio",
        traced_ms=round(figures["traced"][1]),
        untraced_ms=round(figures["untraced"][1]),
    )


if __name__ == "__main__":
    asyncio.run(main())
