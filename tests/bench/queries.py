"""GET /orders with 100,000 orders of 20 merchants stored: p50/p99 latency and requests per
second for filter.userId, filter.status=$in:..., filter.id and the default first page.

    make bench        (or: python -m tests.bench.queries)
"""

import asyncio
import random
import time

import httpx

from tests.support.seed import seed_orders

from .common import deployment, machine
from .load import closed_loop

ORDERS = 100_000
MERCHANTS = 20
USERS_PER_MERCHANT = 500


async def main() -> None:
    stack = deployment("queries")
    await stack.start("ingress")
    try:
        merchants = [(await stack.merchant()) for _ in range(MERCHANTS)]
        started = time.monotonic()
        known = await seed_orders(stack.db, [m.merchant_id for m in merchants], ORDERS, USERS_PER_MERCHANT)
        print(f"machine: {machine()}")
        print(f"seeded {ORDERS:,} orders of {MERCHANTS} merchants in {time.monotonic() - started:.1f}s")
        rng = random.Random(2)
        limits = httpx.Limits(max_connections=16)
        clients = {
            m.merchant_id: httpx.AsyncClient(
                base_url=stack.base_url, headers={"Authorization": f"Bearer {m.api_key}"}, limits=limits, timeout=60
            )
            for m in merchants
        }

        def query(params_for: object) -> object:
            async def send(i: int) -> int:
                merchant = merchants[i % MERCHANTS].merchant_id
                try:
                    response = await clients[merchant].get("/orders", params=params_for(merchant))  # type: ignore[operator]
                except httpx.TimeoutException:
                    return 0  # counted as status 0
                return response.status_code

            return send

        cases = {
            "filter.userId": lambda m: {"filter.userId": rng.choice(known[m].user_ids)},
            "filter.id": lambda m: {"filter.id": rng.choice(known[m].order_ids)},
            "filter.status=$in:success,canceled": lambda m: {"filter.status": "$in:success,canceled"},
            "default first page": lambda m: {},
        }
        for name, params in cases.items():
            send = query(params)
            await closed_loop(f"warm-up {name}", send, clients=4, requests=20, max_seconds=20)  # type: ignore[arg-type]
            alone = await closed_loop(f"{name}, 1 client", send, clients=1, requests=500, max_seconds=15)  # type: ignore[arg-type]
            print(alone.line(), flush=True)
            loaded = await closed_loop(f"{name}, 8 clients", send, clients=8, requests=4000, max_seconds=20)  # type: ignore[arg-type]
            print(loaded.line(), flush=True)
        for client in clients.values():
            await client.aclose()
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
