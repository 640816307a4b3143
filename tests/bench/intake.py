"""Figure 4 of the write-path issue: checkouts taken into the writer's view per second from
a backlog of 50,000 on ``checkout.events`` (published before the writer starts).

    python -m tests.bench.intake [CHECKOUTS]      (after `make services`)
"""

import asyncio
import sys
import uuid

from schemas.checkout import CheckoutStatus
from schemas.storage.orders import CHECKOUTS
from tests.support.demo import demo_checkout

from .common import consumer_group_rate, deployment, machine
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
        rate, taken = await consumer_group_rate(stack, "checkouts", checkouts, MAX_SECONDS)
        stored = await stack.db[CHECKOUTS].count_documents({})
        if taken >= checkouts:  # what Kafka says was handled is in the view
            assert stored == checkouts, f"{stored} of {checkouts} checkouts in the view"
        else:
            print(f"  stopped after {MAX_SECONDS}s with {stored} of {checkouts} in the view")
        record(
            "checkouts taken into the view per second (backlog)",
            rate,
            1500,
            "checkouts/s",
            backlog=checkouts,
            taken=taken,
        )
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
