"""Figure 5 of the write-path issue: orders stored per second by the writer from a backlog of
create commands on ``order.create``, beside a bulk insert of the same documents (what the
writer would have written: ``order_document``) into the same database, in the same run:
into a collection with the orders' indexes (the figure: what storing these orders costs the
database), and into a bare one (printed and recorded beside it).

    python -m tests.bench.writer [COMMANDS]      (after `make services`; default 50,000)
"""

import asyncio
import sys
import time
from collections.abc import Sequence

from schemas.base import utc_now
from schemas.order import OrderStatus
from schemas.storage.orders import ORDERS
from services.domain.creation import build_order
from services.domain.events import event_for
from services.order_writer.store import INDEXES, order_document
from services.shared.mongo import Document, ensure_indexes
from tests.support.commands import create_command
from tests.support.stack import Stack

from .common import consumer_group_rate, deployment, machine, paid_checkouts_in_view
from .results import record

MAX_SECONDS = 120
BULK = 2000


async def main(commands: int = 50_000) -> None:
    stack = deployment("writer")
    await stack.start("ingress")  # topics and indexes; no writer yet
    try:
        merchant = "bench-merchant"
        checkouts = await paid_checkouts_in_view(stack, merchant, commands)
        # As the ingress publishes them: with the paid checkout its view had
        creates = [create_command(merchant, c.id, idempotency_key=c.id, paid_checkout=c) for c in checkouts]
        for start in range(0, commands, 5000):
            chunk = creates[start : start + 5000]
            await stack.publish_many(stack.settings.topics.order_create, [(c, c.order_id) for c in chunk])
        print(f"machine: {machine()}\n{commands} create commands on order.create; starting the writer", flush=True)

        now = utc_now()
        documents = []
        for command, checkout in zip(creates, checkouts, strict=True):
            order = build_order(command, checkout, OrderStatus.CREATED, now)
            event = event_for(order, "order.status.updated", None, now)
            documents.append(order_document(order, outbox=[event], applied_commands=[command.command_id]))
        bare_rate = await bulk_insert_rate(stack, documents, [])
        bulk_rate = await bulk_insert_rate(stack, documents, INDEXES[ORDERS])

        stack.processes["writer"].start()
        writer_rate, done = await consumer_group_rate(stack, "create", commands, MAX_SECONDS)
        print(
            f"  bulk insert of the same documents: {bulk_rate:,.0f}/s with the orders' indexes, "
            f"{bare_rate:,.0f}/s into a bare collection (writer / bare: {writer_rate / bare_rate:.2f}); "
            f"the writer: {writer_rate:,.1f}/s",
            flush=True,
        )
        if done < commands:
            print(f"  stopped after {MAX_SECONDS}s with {done} of {commands} commands handled")
        record(
            "orders stored per second / bulk insert per second",
            writer_rate / bulk_rate,
            0.5,
            "ratio",
            writer_per_second=round(writer_rate, 1),
            bulk_per_second=round(bulk_rate, 1),
            bulk_bare_collection_per_second=round(bare_rate, 1),
            backlog=commands,
        )
    finally:
        await stack.close()


async def bulk_insert_rate(
    stack: Stack, documents: list[Document], indexes: Sequence[Sequence[tuple[str, int]]]
) -> float:
    """Documents per second of unordered bulk inserts of ``documents`` into a new collection
    with ``indexes``, dropped afterwards."""
    collection = stack.db["bench_bulk_orders"]
    await ensure_indexes(stack.db, {collection.name: indexes})
    started = time.monotonic()
    for start in range(0, len(documents), BULK):
        await collection.insert_many(documents[start : start + BULK], ordered=False)
    rate = len(documents) / (time.monotonic() - started)
    await stack.db.drop_collection("bench_bulk_orders")
    return rate


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
