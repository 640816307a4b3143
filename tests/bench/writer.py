"""Figure 5 of the write-path issue: orders stored per second by the writer from a backlog of
create commands on ``order.create``, beside a bulk insert of the same documents (what the
writer would have written: ``order_document``) into the same database, in the same run.

    python -m tests.bench.writer [COMMANDS]      (after `make services`; default 50,000)
"""

import asyncio
import sys
import time
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.order import OrderStatus
from schemas.storage.orders import CHECKOUTS, CheckoutDocument
from services.domain.creation import build_order
from services.domain.events import event_for
from services.order_writer.store import order_document
from tests.support.commands import create_command
from tests.support.demo import demo_checkout
from tests.support.stack import eventually

from .common import deployment, machine
from .results import record

MAX_SECONDS = 120
BULK = 2000


async def main(commands: int = 50_000) -> None:
    stack = deployment("writer")
    await stack.start("ingress")  # topics and indexes; no writer yet
    try:
        merchant = "bench-merchant"
        checkouts = [
            demo_checkout(merchant, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout for _ in range(commands)
        ]
        for start in range(0, commands, BULK):
            await stack.db[CHECKOUTS].insert_many(
                [
                    {"_id": c.id, **CheckoutDocument(checkout=c, version=1).model_dump(mode="python")}
                    for c in checkouts[start : start + BULK]
                ]
            )
        creates = [create_command(merchant, c.id, idempotency_key=c.id) for c in checkouts]
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
        started = time.monotonic()
        for start in range(0, len(documents), BULK):
            await stack.db["bench_bulk_orders"].insert_many(documents[start : start + BULK], ordered=False)
        bulk_rate = len(documents) / (time.monotonic() - started)
        await stack.db.drop_collection("bench_bulk_orders")

        stack.processes["writer"].start()
        group = f"{stack.prefix}orders-writer.create"
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
        await admin.start()
        try:

            async def handled() -> int:
                offsets = await admin.list_consumer_group_offsets(group)
                return sum(max(o.offset, 0) for o in offsets.values())

            await eventually(handled, timeout=60, interval=0.02)
            started, first = time.monotonic(), await handled()
            done = first
            while done < commands and time.monotonic() - started < MAX_SECONDS:
                await asyncio.sleep(0.2)
                done = await handled()
            seconds = time.monotonic() - started
        finally:
            await admin.close()
        writer_rate = (done - first) / seconds
        print(f"  bulk insert of the same documents: {bulk_rate:,.0f}/s; the writer: {writer_rate:,.1f}/s", flush=True)
        if done < commands:
            print(f"  stopped after {MAX_SECONDS}s with {done} of {commands} commands handled")
        record(
            "orders stored per second / bulk insert per second",
            writer_rate / bulk_rate,
            0.5,
            "ratio",
            writer_per_second=round(writer_rate, 1),
            bulk_per_second=round(bulk_rate, 1),
            backlog=commands,
        )
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
