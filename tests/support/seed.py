"""Many orders at once, straight into the database in the writer's own document format (its
``order_document``, so exactly what the writer would have written), for
benchmarks and for tests that need a table big enough for the query planner to matter."""

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.order import OrderRecord, OrderStatus
from schemas.storage.orders import ORDER_SPANS, ORDERS
from services.domain.creation import build_order
from services.domain.events import event_for
from services.domain.tallies import OrderChange
from services.order_writer.store import first_created, move_spans_back, order_document
from services.order_writer.tallies import DayTallies
from services.shared.mongo import Database, Document
from tests.support.commands import create_command
from tests.support.demo import demo_checkout

STATUSES = list(OrderStatus)
BATCH = 2000


@dataclass
class SeededMerchant:
    order_ids: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)


async def seed_orders(
    db: Database, merchants: list[str], orders: int, users_per_merchant: int
) -> dict[str, SeededMerchant]:
    """``orders`` orders spread evenly over ``merchants``, each of a random one of the
    merchant's users, of any status, created in the last 90 days. Returns, per merchant,
    its order ids, user ids and idempotency keys. Each batch is inserted while the next is
    built; the tallies of their days are written last, as the writer's consumer of
    ``order.events`` would have (``DayTallies``)."""
    rng = random.Random(1)
    now = utc_now()
    known = {m: SeededMerchant(user_ids=[f"user-{m}-{u}" for u in range(users_per_merchant)]) for m in merchants}
    batch: list[Document] = []
    records: list[OrderRecord] = []
    changes: list[OrderChange] = []
    reach: dict[str, datetime] = {}
    inserting: asyncio.Task[None] | None = None
    for n in range(orders):
        merchant = merchants[n % len(merchants)]
        checkout = demo_checkout(merchant, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout
        checkout.user_id = rng.choice(known[merchant].user_ids)
        checkout.amount = rng.randrange(1000, 1_000_000)
        command = create_command(merchant, checkout.id, idempotency_key=f"key-{n}", requested_at=now)
        record = build_order(command, checkout, OrderStatus.CREATED, now - timedelta(seconds=rng.randrange(90 * 86400)))
        record.status = rng.choice(STATUSES)
        known[merchant].order_ids.append(record.id)
        known[merchant].idempotency_keys.append(f"key-{n}")
        # An order not changed since the batch that created it keeps its creation event.
        unchanged = record.status == OrderStatus.CREATED
        outbox = [event_for(record, "order.status.updated", None, record.created_at)] if unchanged else []
        batch.append(order_document(record, outbox=outbox, applied_commands=[command.command_id]))
        records.append(record)
        if len(batch) == BATCH:
            if inserting:
                await inserting
            inserting = asyncio.create_task(_insert(db, batch, records, reach))
            batch, records = [], []
        changes.append(OrderChange.of(record, record.version))
    if inserting:
        await inserting
    if batch:
        await _insert(db, batch, records, reach)
    await DayTallies(db).apply(changes)
    return known


async def _insert(
    db: Database, documents: list[Document], records: list[OrderRecord], reach: dict[str, datetime]
) -> None:
    """As ``OrderStore.insert_many`` does: spans first, then the orders, in bulk."""
    await move_spans_back(db[ORDER_SPANS], first_created(records), reach)
    await db[ORDERS].insert_many(documents, ordered=False)
