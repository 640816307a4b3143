"""Issue 9's read side at scale, on one data set: ``ORDERS_READ_BENCH_ORDERS`` orders
(1,000,000 by default) of 20 merchants over 90 days, every status present, seeded in bulk in
the writer's own document format (``tests/support/seed.py``: what the writer would have
written, not orders that went through it). Then ``GET /orders`` by query shape
(``queries.py``), and the export and the report (``export.py``).

    python -m tests.bench.reads      (after `make services`)
"""

import asyncio
import os
import time

from schemas.base import utc_now
from tests.support.seed import seed_orders

from . import export, queries
from .common import deployment, machine
from .results import record

ORDERS = int(os.environ.get("ORDERS_READ_BENCH_ORDERS", "1000000"))
MERCHANTS = 20
USERS_PER_MERCHANT = 500


async def main() -> None:
    stack = deployment("reads")
    await stack.start("ingress")
    try:
        admin = await stack.merchant(admin=True)
        merchants = [await stack.merchant() for _ in range(MERCHANTS)]
        print(f"machine: {machine()}")
        started = time.monotonic()
        known = await seed_orders(stack.db, [m.merchant_id for m in merchants], ORDERS, USERS_PER_MERCHANT)
        seconds = time.monotonic() - started
        record("seeding (bulk, the writer's documents)", ORDERS / seconds, None, "orders/s", orders=ORDERS)
        await queries.measure(stack.base_url, {m.merchant_id: m.api_key for m in merchants}, known, utc_now())
        await export.measure(stack, admin, merchants[0], ORDERS)
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
