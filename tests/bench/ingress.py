"""Figure 1 of the write-path issue: POST /orders accepted per second by the ingress, beside
a bare endpoint that only validates the same body and publishes it (``bare_ingress.py``).
Both single processes, the same aiohttp load generator (32 clients), the same run. The
ingress runs alone (no writer or dispatcher competing for the cores); its checkouts are
published on ``checkout.events`` first, as the checkout service would, so the ingress knows
them as it would in production (``RecentCheckouts``); how many creates it took from that
memory and how many from a read of the view is printed beside the figure.

    python -m tests.bench.ingress      (after `make services`)
"""

import asyncio
import contextlib
import sys

import aiohttp
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.topics import TOPIC_PARTITIONS
from tests.support.metrics import metrics, value
from tests.support.stack import eventually, free_port

from .common import deployment, machine, paid_checkouts_published
from .load import Result, closed_loop
from .results import record

CLIENTS = 32
SECONDS = 15
REQUESTS = 12_000


async def saturate(name: str, url: str, api_key: str, checkout_ids: list[str], requests: int = REQUESTS) -> Result:
    """POST /orders as fast as ``CLIENTS`` clients can, for ``SECONDS`` or ``requests``
    (``checkout_ids`` holds 200 more, for the warm-up)."""
    ids = iter(checkout_ids)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session:

        async def create(_: int) -> int:
            checkout_id = next(ids)
            body = {"checkoutId": checkout_id, "idempotencyKey": checkout_id, "meta": {"source": "bench"}}
            async with session.post(url + "/orders", json=body) as response:
                await response.read()
                return response.status

        await closed_loop(f"{name} warm-up", create, clients=4, requests=200, max_seconds=10)
        result = await closed_loop(name, create, clients=CLIENTS, requests=requests, max_seconds=SECONDS)
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
        checkouts = await paid_checkouts_published(stack, merchant.merchant_id, 2 * (REQUESTS + 200), in_view=False)
        ids = [c.id for c in checkouts]
        await eventually(lambda: _answers(f"http://127.0.0.1:{port}/docs"), timeout=30)
        print(f"machine: {machine()}")
        ingress = await saturate("ingress, POST /orders", stack.base_url, merchant.api_key, ids[: REQUESTS + 200])
        lookups = (await metrics(stack.base_url))[1]
        print(
            "  checkouts found in memory / read from the view: "
            f"{value(lookups, 'orders_ingress_checkout_lookups_total', source='memory'):.0f} / "
            f"{value(lookups, 'orders_ingress_checkout_lookups_total', source='view'):.0f}"
        )
        yardstick = await saturate("bare validate-and-publish", f"http://127.0.0.1:{port}", "-", ids[REQUESTS + 200 :])
        record(
            "ingress POST/s / bare endpoint POST/s",
            ingress.rate / yardstick.rate,
            0.5,
            "ratio",
            ingress_per_second=round(ingress.rate, 1),
            bare_per_second=round(yardstick.rate, 1),
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
