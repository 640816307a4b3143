"""What each document the writer stores per created order costs the database, inserted
alone in batches as the writer inserts them: the order (with its indexes), its command's
claim in the command log, its checkout's claim, and its creation mark. Explains figure 5
of the write-path issue: the writer stores all four, the yardstick only the first.

    python -m tests.bench.store_costs [BATCH]      (after `make services`; default 500)
"""

import asyncio
import sys
import time
import uuid
from typing import Any

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.order import OrderStatus
from schemas.storage.orders import (
    CHECKOUTS,
    COMMAND_LOG,
    ORDERS,
    PUBLISHED_CREATIONS,
    CheckoutClaim,
    CommandRecord,
    claim_key,
)
from services.domain.creation import build_order
from services.domain.events import event_for
from services.order_writer.store import INDEXES, order_document
from tests.support.commands import create_command
from tests.support.demo import demo_checkout

from .common import deployment, machine

DOCUMENTS = 4000


async def main(batch: int = 500) -> None:
    stack = deployment("store-costs")
    db = stack.db
    now = utc_now()
    kinds: dict[str, list[dict[str, Any]]] = {"order": [], "command claim": [], "checkout claim": [], "mark": []}
    for _ in range(DOCUMENTS):
        checkout = demo_checkout("bench-merchant", str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout
        command = create_command("bench-merchant", checkout.id, idempotency_key=checkout.id, paid_checkout=checkout)
        record = build_order(command, checkout, OrderStatus.CREATED, now)
        event = event_for(record, "order.status.updated", None, now)
        kinds["order"].append(order_document(record, outbox=[event], applied_commands=[command.command_id]))
        claim = CommandRecord(order_id=record.id, type=command.type, outcome="taken", at=now)
        kinds["command claim"].append({"_id": command.command_id, **claim.model_dump(mode="python")})
        checkout_claim = CheckoutClaim(checkout_id=checkout.id, order_id=record.id)
        kinds["checkout claim"].append({"_id": claim_key(checkout.id), **checkout_claim.model_dump()})
        kinds["mark"].append({"_id": record.id})
    collections = {
        "order": ORDERS,
        "command claim": COMMAND_LOG,
        "checkout claim": CHECKOUTS,
        "mark": PUBLISHED_CREATIONS,
    }
    for keys in INDEXES[ORDERS]:
        await db[ORDERS].create_index(list(keys))
    for keys in INDEXES[CHECKOUTS]:
        await db[CHECKOUTS].create_index(list(keys))
    print(f"machine: {machine()}\n{DOCUMENTS} documents of each kind, unordered bulk inserts of {batch}")
    try:
        for kind, documents in kinds.items():
            collection = db[collections[kind]]
            await collection.insert_one({"_id": "warm-up"})
            started = time.monotonic()
            for start in range(0, DOCUMENTS, batch):
                await collection.insert_many(documents[start : start + batch], ordered=False)
            seconds = time.monotonic() - started
            print(f"  {kind:15} {DOCUMENTS / seconds:8,.0f} documents/s   {seconds / DOCUMENTS * 1e6:5.0f} µs each")
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
