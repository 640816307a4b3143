"""Many orders at once, straight into the database in the writer's own document format (its
``order_document``, so exactly what the writer would have written), for
benchmarks and for tests that need a table big enough for the query planner to matter."""

import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.order import OrderStatus
from schemas.storage.orders import ORDERS
from services.domain.creation import build_order
from services.order_writer.store import order_document
from services.shared.mongo import Database
from tests.support.commands import create_command
from tests.support.demo import demo_checkout

STATUSES = [
    OrderStatus.CREATED,
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.CANCELED_BY_CUSTOMER,
]
BATCH = 2000


@dataclass
class SeededMerchant:
    order_ids: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)


async def seed_orders(
    db: Database, merchants: list[str], orders: int, users_per_merchant: int
) -> dict[str, SeededMerchant]:
    """``orders`` orders spread evenly over ``merchants``, each of a random one of the
    merchant's users, status and creation time in the last 90 days. Returns, per merchant,
    its order ids and user ids."""
    rng = random.Random(1)
    now = utc_now()
    known = {m: SeededMerchant(user_ids=[f"user-{m}-{u}" for u in range(users_per_merchant)]) for m in merchants}
    batch = []
    for n in range(orders):
        merchant = merchants[n % len(merchants)]
        checkout = demo_checkout(merchant, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout
        checkout.user_id = rng.choice(known[merchant].user_ids)
        checkout.amount = rng.randrange(1000, 1_000_000)
        command = create_command(merchant, checkout.id, idempotency_key=f"key-{n}", requested_at=now)
        record = build_order(command, checkout, OrderStatus.CREATED, now - timedelta(seconds=rng.randrange(90 * 86400)))
        record.status = rng.choice(STATUSES)
        known[merchant].order_ids.append(record.id)
        batch.append(order_document(record, applied_commands=[command.command_id]))
        if len(batch) == BATCH:
            await db[ORDERS].insert_many(batch, ordered=False)
            batch = []
    if batch:
        await db[ORDERS].insert_many(batch, ordered=False)
    return known
