"""Figure 1 of the write-path issue: POST /orders accepted per second by the ingress, beside
a bare endpoint that only validates the same body and publishes it (``bare_ingress.py``).
Both single processes, the same aiohttp load generator (32 clients), the same run. The
ingress runs alone (no writer or dispatcher competing for the cores); its checkouts are
published on ``checkout.events`` first, as the checkout service would, so the ingress knows
them as it would in production (``RecentCheckouts``); how many creates it took from that
memory and how many from a read of the view is printed beside the figure.

The two take turns, ``ROUNDS`` times, so that what else this noisy machine does in a
minute falls on both alike: the figure is the median of the rounds' ratios (each round's
ratio is printed too).

    python -m tests.bench.ingress      (after `make services`)
"""

import asyncio
import contextlib
import statistics
import sys
from collections.abc import Sequence

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import TOPIC_PARTITIONS
from tests.support.checkouts import paid_checkouts_published
from tests.support.metrics import metrics, value
from tests.support.stack import eventually, free_port

from .common import deployment, machine
from .load import Result, closed_loop
from .results import record

CLIENTS = 32
SECONDS = 10
REQUESTS = 10_000
ROUNDS = 3
WARM_UP = 200


async def saturate(
    name: str, url: str, api_key: str, checkout_ids: list[str], warm_up_ids: Sequence[str] = ()
) -> Result:
    """POST /orders as fast as ``CLIENTS`` clients can, for ``SECONDS`` or until the
    checkout ids run out, after a warm-up of four clients over ``warm_up_ids``."""
    ids = iter([*warm_up_ids, *checkout_ids])
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session:

        async def create(_: int) -> int:
            checkout_id = next(ids)
            body = {"checkoutId": checkout_id, "idempotencyKey": checkout_id, "meta": {"source": "bench"}}
            async with session.post(url + "/orders", json=body) as response:
                await response.read()
                return response.status

        if warm_up_ids:
            await closed_loop(f"{name} warm-up", create, clients=4, requests=len(warm_up_ids), max_seconds=10)
        result = await closed_loop(name, create, clients=CLIENTS, requests=len(checkout_ids), max_seconds=SECONDS)
    print(f"  {result.line()}", flush=True)
    return result


async def main() -> None:
    stack = deployment("ingress")
    await stack.start("ingress")
    port = free_port()
    bare_topic = stack.prefix + "bare.order.create"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(bare_topic, TOPIC_PARTITIONS, 1)])
    await admin.close()
    bare = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.bench.bare_ingress", str(port), bare_topic, env=stack.env
    )
    try:
        merchant = await stack.merchant()
        wanted = ROUNDS * REQUESTS + WARM_UP
        checkouts = await paid_checkouts_published(stack, merchant.merchant_id, wanted, in_view=False)
        warm_up, ids = [c.id for c in checkouts[:WARM_UP]], [c.id for c in checkouts[WARM_UP:]]
        await eventually(lambda: _answers(f"http://127.0.0.1:{port}/docs"), timeout=30)
        print(f"machine: {machine()}")
        bare_url = f"http://127.0.0.1:{port}"
        ingress: list[Result] = []
        yardstick: list[Result] = []
        for round_ in range(ROUNDS):
            mine = ids[round_ * REQUESTS : (round_ + 1) * REQUESTS]
            first = warm_up if not round_ else []
            ingress.append(await saturate("ingress, POST /orders", stack.base_url, merchant.api_key, mine, first))
            # The bare endpoint takes any checkout id: its own, so that the ingress's are all fresh.
            theirs = [f"bare-{round_}-{i}" for i in range(REQUESTS)]
            first = [f"bare-warm-up-{i}" for i in range(WARM_UP)] if not round_ else []
            yardstick.append(await saturate("bare validate-and-publish", bare_url, "-", theirs, first))
            print(f"  round {round_ + 1}: ratio {ingress[-1].rate / yardstick[-1].rate:.2f}", flush=True)
        lookups = (await metrics(stack.base_url))[1]
        print(
            "  checkouts found in memory / read from the view: "
            f"{value(lookups, 'orders_ingress_checkout_lookups_total', source='memory'):.0f} / "
            f"{value(lookups, 'orders_ingress_checkout_lookups_total', source='view'):.0f}"
        )
        ratios = [mine.rate / theirs.rate for mine, theirs in zip(ingress, yardstick, strict=True)]
        record(
            "ingress POST/s / bare endpoint POST/s",
            statistics.median(ratios),
            0.5,
            "ratio",
            ratios=[round(r, 3) for r in ratios],
            ingress_per_second=[round(r.rate, 1) for r in ingress],
            bare_per_second=[round(r.rate, 1) for r in yardstick],
            clients=CLIENTS,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have died: the stack still stops
            bare.terminate()
        await bare.wait()
        cleanup = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
        await cleanup.start()
        await cleanup.delete_topics([bare_topic])
        await cleanup.close()
        await stack.close()


async def _answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


if __name__ == "__main__":
    asyncio.run(main())
