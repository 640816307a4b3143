"""Figure 4 of the write-path issue: checkouts taken into the writer's view per second from
a backlog of 50,000 on ``checkout.events`` (published before the writer starts).

    python -m tests.bench.intake [CHECKOUTS]      (after `make services`)
"""

import asyncio
import sys
import time
import uuid

from aiokafka.admin import AIOKafkaAdminClient

from schemas.checkout import CheckoutStatus
from schemas.storage.orders import CHECKOUTS
from tests.support.demo import demo_checkout
from tests.support.stack import eventually

from .common import deployment, machine
from .results import record

MAX_SECONDS = 120


async def main(checkouts: int = 50_000) -> None:
    stack = deployment("intake")
    await stack.start("ingress")  # topics and indexes; no writer yet
    try:
        merchant = "bench-merchant"
        events = [demo_checkout(merchant, str(uuid.uuid4()), CheckoutStatus.PAID, 1) for _ in range(checkouts)]
        for start in range(0, checkouts, 5000):
            chunk = events[start : start + 5000]
            await stack.publish_many(stack.settings.topics.checkout_events, [(e, e.checkout.id) for e in chunk])
        print(f"machine: {machine()}\n{checkouts} checkouts on checkout.events; starting the writer", flush=True)
        stack.processes["writer"].start()
        group = f"{stack.prefix}orders-writer.checkouts"
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
        await admin.start()
        try:

            async def consumed() -> int:
                """Events the writers' group has handled and committed: read from Kafka, so
                measuring puts no load on the database the writer is writing."""
                offsets = await admin.list_consumer_group_offsets(group)
                return sum(max(o.offset, 0) for o in offsets.values())

            await eventually(consumed, timeout=60, interval=0.02)
            started, first = time.monotonic(), await consumed()  # the writer is up and reading
            taken = first
            while taken < checkouts and time.monotonic() - started < MAX_SECONDS:
                await asyncio.sleep(0.2)
                taken = await consumed()
            seconds = time.monotonic() - started
        finally:
            await admin.close()
        stored = await stack.db[CHECKOUTS].count_documents({})
        if taken >= checkouts:  # what Kafka says was handled is in the view
            assert stored == checkouts, f"{stored} of {checkouts} checkouts in the view"
        else:
            print(f"  stopped after {MAX_SECONDS}s with {stored} of {checkouts} in the view")
        record(
            "checkouts taken into the view per second (backlog)",
            (taken - first) / seconds,
            1500,
            "checkouts/s",
            backlog=checkouts,
            taken=taken,
            seconds=round(seconds, 1),
        )
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
