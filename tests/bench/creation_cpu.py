"""The writer's own CPU for each step of a creation that needs no I/O, per order, as a batch
does them (one ``now`` shared by the batch): build the order, its event, its stored document,
and its event's JSON for Kafka. No services needed. The rest of the writer's time per order
(decoding the command, the bulk inserts, the publish, the spans and the log line) is the
libraries' (``py-spy``; docs/design.md, "Benchmarks").

    python -m tests.bench.creation_cpu [ORDERS]      (default 3,000)
"""

import asyncio
import sys
import time
import uuid
from collections.abc import Callable

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.order import OrderStatus
from services.domain.creation import build_order
from services.domain.events import event_for
from services.order_writer.store import order_document
from tests.support.commands import create_command
from tests.support.demo import demo_checkout

from .common import machine

ROUNDS = 5


def cpu_per_order(step: Callable[[int], object], orders: int) -> float:
    """The least CPU µs an order of ``ROUNDS`` rounds over ``orders`` orders."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for index in range(orders):
            step(index)
        best = min(best, (time.process_time() - started) / orders * 1e6)
    return best


async def main(orders: int = 3000) -> None:
    """Async only so that ``run_all`` runs it like the others: it awaits nothing."""
    checkouts = [demo_checkout("m", str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout for _ in range(orders)]
    commands = [create_command("m", c.id, idempotency_key=c.id, paid_checkout=c) for c in checkouts]
    now = utc_now()
    records = [build_order(c, c.paid_checkout, OrderStatus.CREATED, now) for c in commands]
    events = [event_for(r, "order.status.updated", None, now) for r in records]
    steps: dict[str, Callable[[int], object]] = {
        "build the order (build_order)": lambda i: build_order(
            commands[i], commands[i].paid_checkout, OrderStatus.CREATED, now
        ),
        "its event (event_for)": lambda i: event_for(records[i], "order.status.updated", None, now),
        "its stored document (order_document)": lambda i: order_document(
            records[i], outbox=[events[i]], applied_commands=[commands[i].command_id]
        ),
        "its event's JSON for Kafka": lambda i: events[i].model_dump_json().encode(),
    }
    print(f"machine: {machine()}\n{orders} creations, CPU µs an order (the least of {ROUNDS} rounds)")
    total = 0.0
    for name, step in steps.items():
        cost = cpu_per_order(step, orders)
        total += cost
        print(f"  {name:40s} {cost:6.1f}")
    print(f"  {'together':40s} {total:6.1f}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
