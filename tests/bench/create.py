"""POST /orders: the rate accepted under saturation (and how many 503s), then p99 latency
at half that rate. Checkouts are put straight into the writer's view beforehand.

    make bench        (or: python -m tests.bench.create)
"""

import asyncio

import httpx

from .common import deployment, machine, paid_checkouts_in_view
from .load import closed_loop, open_loop

CHECKOUTS = 12_000


async def main() -> None:
    stack = deployment("create")
    await stack.start()
    try:
        merchant = await stack.merchant()
        checkouts = await paid_checkouts_in_view(stack, merchant.merchant_id, CHECKOUTS)
        print(f"machine: {machine()}")
        next_checkout = iter(checkouts)
        async with httpx.AsyncClient(
            base_url=stack.base_url,
            headers={"Authorization": f"Bearer {merchant.api_key}"},
            limits=httpx.Limits(max_connections=64),
            timeout=30,
        ) as api:

            async def create(i: int) -> int:
                checkout = next(next_checkout)
                body = {"checkoutId": checkout.id, "idempotencyKey": f"bench-{checkout.id}", "meta": {"i": i}}
                return (await api.post("/orders", json=body)).status_code

            await closed_loop("warm-up", create, clients=4, requests=100, max_seconds=20)
            peak = await closed_loop(
                "POST /orders, 32 clients (saturation)", create, clients=32, requests=6000, max_seconds=20
            )
            print(peak.line())
            half = max(peak.rate / 2, 1.0)
            steady = await open_loop(f"POST /orders at {half:.0f}/s (half of that)", create, rate=half, seconds=15)
            print(steady.line())
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
