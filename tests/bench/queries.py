"""GET /orders with 100,000 orders of 20 merchants stored: p50/p99 latency and requests per
second for filter.userId, filter.status=$in:..., filter.id and the default first page.

    make bench        (or: python -m tests.bench.queries)
"""

import asyncio
import random
import time
import uuid
from datetime import timedelta

import httpx

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.commands import OrderCreateCommand
from schemas.order import OrderStatus
from services.cli import demo_checkout
from services.domain.creation import build_order
from services.shared.order_store import to_document

from .common import deployment, machine
from .load import closed_loop

ORDERS = 100_000
MERCHANTS = 20
USERS_PER_MERCHANT = 500
STATUSES = [
    OrderStatus.CREATED,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.CANCELED_BY_CUSTOMER,
]


async def seed(stack, merchants: list[str]) -> dict[str, tuple[list[str], list[str]]]:  # type: ignore[no-untyped-def]
    """Orders straight into the database, in the writer's own document format. Returns,
    per merchant, its order ids and user ids."""
    rng = random.Random(1)
    now = utc_now()
    known: dict[str, tuple[list[str], list[str]]] = {
        m: ([], [f"user-{m}-{u}" for u in range(USERS_PER_MERCHANT)]) for m in merchants
    }
    batch = []
    for n in range(ORDERS):
        merchant = merchants[n % MERCHANTS]
        order_ids, users = known[merchant]
        checkout = demo_checkout(merchant, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout
        checkout.user_id = rng.choice(users)
        checkout.amount = rng.randrange(1000, 1_000_000)
        command = OrderCreateCommand(
            command_id=str(uuid.uuid4()),
            order_id=str(uuid.uuid4()),
            merchant_id=merchant,
            checkout_id=checkout.id,
            idempotency_key=f"key-{n}",
            requested_at=now,
        )
        record = build_order(command, checkout, OrderStatus.CREATED, now - timedelta(seconds=rng.randrange(90 * 86400)))
        record.status = rng.choice(STATUSES)
        order_ids.append(record.id)
        batch.append(to_document(record) | {"outbox": [], "outboxSince": None, "appliedCommands": [command.command_id]})
        if len(batch) == 2000:
            await stack.db.orders.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await stack.db.orders.insert_many(batch, ordered=False)
    return known


async def main() -> None:
    stack = deployment("queries")
    await stack.start("ingress")
    try:
        merchants = [(await stack.merchant()) for _ in range(MERCHANTS)]
        started = time.monotonic()
        known = await seed(stack, [m.merchant_id for m in merchants])
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
            "filter.userId": lambda m: {"filter.userId": rng.choice(known[m][1])},
            "filter.id": lambda m: {"filter.id": rng.choice(known[m][0])},
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
