"""Database commands per order, end to end: POST /orders -> stored -> on order.events ->
delivered to one webhook URL, counted by FerretDB itself (``ferretdb_client_requests_total``
on its debug address), so noise cannot move the figure. Background work during the run
(retry polling, outbox sweeps, the intake clock) counts too, as it does at load.

    python -m tests.bench.commands [ORDERS]      (after `make services`; default 1,000 orders)
"""

import asyncio
import os
import re
import sys
import time
import uuid
from collections import Counter

import httpx

from tests.support.checkouts import paid_checkouts_published
from tests.support.receiver import WebhookReceiver

from .common import deployment, machine
from .results import record

HANDSHAKES = {"hello", "ismaster", "isMaster", "ping", "buildInfo", "saslStart", "saslContinue", "endSessions"}
"""Connection set-up and the drivers' server monitoring: per connection and per second, not per order."""
_COUNTER = re.compile(r'^ferretdb_client_requests_total\{command="([^"]+)",opcode="[^"]*"\} (\d+)', re.MULTILINE)


async def ferretdb_commands(client: httpx.AsyncClient) -> Counter[str]:
    port = os.environ.get("ORDERS_FERRETDB_DEBUG_PORT", "8088")
    text = (await client.get(f"http://127.0.0.1:{port}/debug/metrics")).text
    return Counter({command: int(count) for command, count in _COUNTER.findall(text)})


async def main(orders: int = 1000) -> None:
    stack = deployment("commands")
    receiver = WebhookReceiver()
    await receiver.start()
    await stack.start()
    try:
        merchant = await stack.merchant()
        url = receiver.url("ok", uuid.uuid4().hex)
        checkouts = await paid_checkouts_published(stack, merchant.merchant_id, orders + 20, in_view=True)
        headers = {"Authorization": f"Bearer {merchant.api_key}"}
        async with (
            httpx.AsyncClient(base_url=stack.base_url, headers=headers, timeout=60) as api,
            httpx.AsyncClient() as metrics,
        ):

            async def create(checkout_id: str) -> None:
                body = {"checkoutId": checkout_id, "idempotencyKey": checkout_id, "webhookUrls": [url]}
                response = await api.post("/orders", json=body)
                assert response.status_code == 200, response.text

            async def run(batch: list[str]) -> None:
                queue = list(batch)

                async def client() -> None:
                    while queue:
                        await create(queue.pop())

                await asyncio.gather(*(client() for _ in range(16)))

            await run([c.id for c in checkouts[:20]])  # warm-up: keys cached, consumers assigned
            await receiver.wait_for(url, count=20, timeout=120)
            before = await ferretdb_commands(metrics)
            started = time.monotonic()
            await run([c.id for c in checkouts[20:]])
            await receiver.wait_for(url, count=orders + 20, timeout=1800)
            took = time.monotonic() - started
            after = await ferretdb_commands(metrics)
        used = after - before
        per_order = {command: count / orders for command, count in sorted(used.items(), key=lambda kv: -kv[1])}
        total = sum(count for command, count in used.items() if command not in HANDSHAKES) / orders
        print(f"machine: {machine()}")
        print(f"{orders} orders, POST -> stored -> event -> one webhook delivered, in {took:.1f}s")
        print(f"{'command':<16}{'per order':>10}")
        for command, count in per_order.items():
            print(f"{command:<16}{count:>10.2f}{'   (connections and monitoring)' if command in HANDSHAKES else ''}")
        record(
            "database commands per order, end to end",
            total,
            2,
            "commands/order",
            at_least=False,
            orders=orders,
            breakdown={c: round(n, 3) for c, n in per_order.items()},
        )
    finally:
        await stack.close()
        await receiver.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
