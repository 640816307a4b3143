"""Figures 3, 7 and 8 of the write-path issue, and its picture. End to end means POST
accepted -> stored -> on order.events -> received by a webhook URL.

- Offered-load steps (25 to 500 orders/s, 10 s each, open loop): the rate orders arrive at
  the webhook and the p99 from POST to webhook. The sustained capacity is the highest
  delivered rate of a step that kept up (every order arrived, at 95 % of the offered rate or
  more, p99 under 5 s); stepping stops at the first step that did not.
- Steady state at half that capacity for 60 s: POST -> webhook p99, and POST -> visible in
  GET p99 (every 25th order is polled, every 20 ms: the polls are database reads, and
  polling every tenth order added about as many reads as the orders themselves made).
- Peak RSS of each service process over the run.
- ``.local/bench/write_path.png``: delivered rate and p99 against offered load.

The load generator and the webhook receiver share this process (one clock for both ends).

    python -m tests.bench.e2e                       (after `make services`)
    python -m tests.bench.e2e --rate 110 [SECONDS]  (only a steady state at 110/s, default 40 s)
"""

import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.support.checkouts import paid_checkouts_published
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack

from .common import deployment, machine, memory_mib
from .results import record

STEPS = (25, 50, 100, 200, 300, 400, 500)
KEPT_UP = 0.95
"""A step keeps up if orders arrive at this share of the offered rate or more."""
VISIBILITY_SAMPLE = 25
STEP_SECONDS = 10
STEADY_SECONDS = 60
DRAIN_SECONDS = 90
PICTURE = Path(__file__).resolve().parents[2] / ".local" / "bench" / "write_path.png"


@dataclass
class Run:
    offered: float
    posted: dict[str, float] = field(default_factory=dict)
    """order id -> when its POST was sent"""
    visible: list[float] = field(default_factory=list)
    """POST -> visible in GET, seconds, for the sampled orders"""
    failures: int = 0
    arrived: dict[str, float] = field(default_factory=dict)

    def latencies(self) -> list[float]:
        return [self.arrived[o] - t for o, t in self.posted.items() if o in self.arrived]

    def delivered_rate(self) -> float:
        if not self.arrived:
            return 0.0
        return len(self.arrived) / (max(self.arrived.values()) - min(self.posted.values()))


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


class Load:
    def __init__(self, stack: Stack, session: aiohttp.ClientSession, checkouts: list[str], url: str) -> None:
        self.stack, self.session, self.url = stack, session, url
        self.checkouts = iter(checkouts)

    async def offer(self, rate: float, seconds: float, *, sample_visibility: bool = False) -> Run:
        run = Run(rate)
        tasks: list[asyncio.Task[None]] = []

        async def one(i: int) -> None:
            checkout_id = next(self.checkouts)
            body = {"checkoutId": checkout_id, "idempotencyKey": checkout_id, "webhookUrls": [self.url]}
            sent = time.monotonic()
            async with self.session.post(self.stack.base_url + "/orders", json=body) as response:
                if response.status != 200:
                    run.failures += 1
                    return
                order_id = (await response.json())["id"]
            run.posted[order_id] = sent
            if sample_visibility and i % VISIBILITY_SAMPLE == 0:
                while True:
                    async with self.session.get(f"{self.stack.base_url}/orders/{order_id}") as found:
                        if found.status == 200:
                            run.visible.append(time.monotonic() - sent)
                            return
                    await asyncio.sleep(0.02)

        began = time.monotonic()
        for i in range(int(rate * seconds)):
            if (delay := began + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        return run


async def collect(run: Run, receiver: WebhookReceiver, url: str) -> None:
    """Wait until every posted order's webhook arrived (or the drain time is over)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while time.monotonic() < deadline:
        for received in receiver.at(url):
            order_id = received.json["order"]["id"]
            if order_id in run.posted:
                run.arrived.setdefault(order_id, received.at)
        if len(run.arrived) == len(run.posted):
            return
        await asyncio.sleep(0.2)


def draw(steps: list[Run]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = [s.offered for s in steps]
    figure, (rates, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    rates.plot(offered, [s.delivered_rate() for s in steps], "o-", label="delivered to the webhook")
    rates.plot(offered, offered, ":", color="grey", label="offered")
    rates.axhline(300, color="red", linestyle="--", label="limit: 300/s")
    rates.set(xlabel="offered orders/s", ylabel="orders/s", title="End to end throughput")
    rates.legend()
    latency.plot(offered, [p99(s.latencies()) * 1000 for s in steps], "o-", label="POST -> webhook p99")
    latency.axhline(1000, color="red", linestyle="--", label="limit at half capacity: 1 s")
    latency.set(xlabel="offered orders/s", ylabel="ms", yscale="log", title="Latency")
    latency.legend()
    figure.suptitle(f"Orders write path, {machine()}", fontsize=9)
    figure.tight_layout()
    PICTURE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PICTURE, dpi=110)
    print(f"  picture: {PICTURE}")


@contextlib.asynccontextmanager
async def warmed_up(name: str, orders: int) -> AsyncIterator[tuple[Stack, Load, WebhookReceiver, str]]:
    """A stack with ``orders`` paid checkouts in its view, a webhook receiver and its URL, and
    a load generator that has sent a few orders through (keys cached, consumers assigned)."""
    stack = deployment(name)
    receiver = WebhookReceiver()
    await receiver.start()
    await stack.start()
    try:
        merchant = await stack.merchant()
        checkouts = await paid_checkouts_published(stack, merchant.merchant_id, orders + 20, in_view=True)
        url = receiver.url("ok", uuid.uuid4().hex)
        headers = {"Authorization": f"Bearer {merchant.api_key}"}
        async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=256)) as session:
            load = Load(stack, session, [c.id for c in checkouts], url)
            warm = await load.offer(10, 2)
            await collect(warm, receiver, url)
            yield stack, load, receiver, url
    finally:
        await stack.close()
        await receiver.stop()


async def main() -> None:
    steps: list[Run] = []
    planned = sum(int(r * STEP_SECONDS) for r in STEPS) + max(STEPS) // 2 * STEADY_SECONDS + 100
    async with warmed_up("e2e", planned) as (stack, load, receiver, url):
        print(f"machine: {machine()}")
        capacity = 0.0
        for rate in STEPS:
            run = await load.offer(rate, STEP_SECONDS)
            await collect(run, receiver, url)
            steps.append(run)
            kept_up = (
                run.failures == 0
                and len(run.arrived) == len(run.posted)
                and p99(run.latencies()) < 5
                and run.delivered_rate() >= KEPT_UP * rate
            )
            print(
                f"  offered {rate:>4}/s: {len(run.posted)} accepted, {len(run.arrived)} delivered at "
                f"{run.delivered_rate():6.1f}/s, POST -> webhook p99 {p99(run.latencies()) * 1000:8.0f} ms, "
                f"{run.failures} not accepted{'' if kept_up else '  (did not keep up: stepping stops)'}",
                flush=True,
            )
            if not kept_up:
                break
            capacity = max(capacity, run.delivered_rate())
        record("sustained end-to-end orders/s", capacity, 300, "orders/s", steps=[s.offered for s in steps])
        half = max(capacity / 2, 1.0)
        steady = await load.offer(half, STEADY_SECONDS, sample_visibility=True)
        await collect(steady, receiver, url)
        lost = len(steady.posted) - len(steady.arrived)
        print(f"  steady state at {half:.0f}/s for {STEADY_SECONDS}s: ", end="")
        print(f"{len(steady.posted)} accepted, {lost} not delivered")
        record("POST -> webhook p99 at half capacity", p99(steady.latencies()) * 1000, 1000, "ms", at_least=False)
        record("POST -> visible in GET p99 at half capacity", p99(steady.visible) * 1000, 500, "ms", at_least=False)
        for name, process in stack.processes.items():
            record(f"peak RSS of the {name}", memory_mib(process.pid, "VmHWM"), None, "MiB")
    draw(steps)


async def fixed_rate(rate: float, seconds: float) -> None:
    """Only a steady state, at a rate given rather than half a capacity just measured: for
    comparing two versions under the same load (run each from its own tree, alternating)."""
    async with warmed_up("e2e-fixed", int(rate * seconds)) as (_, load, receiver, url):
        run = await load.offer(rate, seconds, sample_visibility=True)
        await collect(run, receiver, url)
    webhook, visible = run.latencies(), run.visible
    print(f"machine: {machine()}")
    print(
        f"  {rate:g}/s for {seconds:g}s: {len(run.arrived)} of {len(run.posted)} delivered; POST -> webhook "
        f"p50 {statistics.median(webhook) * 1000:.0f} ms, p99 {p99(webhook) * 1000:.0f} ms; POST -> visible "
        f"p50 {statistics.median(visible) * 1000:.0f} ms, p99 {p99(visible) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rate"]:
        asyncio.run(fixed_rate(float(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 40))
    else:
        asyncio.run(main())
