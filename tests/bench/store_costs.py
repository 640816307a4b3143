"""What each document the writer stores per created order costs the database, written by the
writer's own store calls, alone, in batches as the writer writes them: the order (with its
indexes), its command's claim in the command log, its checkout's claim, and its creation
mark. Explains figure 5 of the write-path issue: the writer stores all four, the yardstick
only the first.

    python -m tests.bench.store_costs [BATCH]      (after `make services`; default 500)
"""

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.order import OrderStatus
from schemas.storage.orders import CHECKOUTS, ORDERS
from services.domain.creation import build_order
from services.domain.events import event_for
from services.order_writer.store import INDEXES, CheckoutStore, CommandLog, CreationMarks, OrderStore
from services.shared.mongo import ensure_indexes
from tests.support.commands import create_command
from tests.support.demo import demo_checkout

from .common import deployment, machine

DOCUMENTS = 4000


async def main(batch: int = 500) -> None:
    stack = deployment("store-costs")
    db = stack.db
    now = utc_now()
    commands = []
    for _ in range(DOCUMENTS):
        checkout = demo_checkout("bench-merchant", str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout
        commands.append(
            create_command("bench-merchant", checkout.id, idempotency_key=checkout.id, paid_checkout=checkout)
        )
    orders = []
    for command in commands:
        record = build_order(command, command.paid_checkout, OrderStatus.CREATED, now)
        orders.append((record, event_for(record, "order.status.updated", None, now), command.command_id))
    await ensure_indexes(db, {ORDERS: INDEXES[ORDERS], CHECKOUTS: INDEXES[CHECKOUTS]})
    order_store, log, checkouts, marks = OrderStore(db), CommandLog(db), CheckoutStore(db), CreationMarks(db)
    writes: dict[str, tuple[Sequence[Any], Callable[[Sequence[Any]], Awaitable[object]]]] = {
        "order": (orders, order_store.insert_many),
        "command claim": (commands, lambda chunk: log.take_many(chunk, now)),
        "checkout claim": ([(c.checkout_id, c.order_id) for c in commands], checkouts.claim_many),
        "mark": ([c.order_id for c in commands], marks.mark),
    }
    print(f"machine: {machine()}\n{DOCUMENTS} documents of each kind, unordered bulk inserts of {batch}")
    try:
        for kind, (items, write) in writes.items():
            started = time.monotonic()
            for start in range(0, DOCUMENTS, batch):
                await write(items[start : start + batch])
            seconds = time.monotonic() - started
            print(f"  {kind:15} {DOCUMENTS / seconds:8,.0f} documents/s   {seconds / DOCUMENTS * 1e6:5.0f} µs each")
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
