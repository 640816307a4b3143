"""`make bench`: every benchmark, one after the other, printing its numbers. Figures measured
against a limit also go to `.local/bench/results.jsonl` (`results.py`)."""

import asyncio

from . import (
    commands,
    create,
    creation_cpu,
    dispatcher_cpu,
    e2e,
    ingress,
    ingress_cpu,
    intake,
    reads,
    store_costs,
    tracing,
    webhooks,
    writer,
)


async def main() -> None:
    for name, run in (
        ("POST /orders", create.main),
        ("write path: the ingress beside a bare endpoint", ingress.main),
        (
            "write path: the ingress's CPU a create, in process, beside the bare endpoint's",
            lambda: ingress_cpu.main(5000, None),
        ),
        ("write path: database commands per order (5,000 orders)", lambda: commands.main(5000)),
        ("write path: checkout intake from a backlog of 50,000", intake.main),
        ("write path: the writer from a backlog of 50,000 creates, beside a bulk insert", writer.main),
        ("write path: what each document the writer stores per order costs the database", store_costs.main),
        ("write path: the writer's own CPU for the steps of a creation without I/O", creation_cpu.main),
        ("write path: end to end, by offered load, then steady at half capacity (picture)", e2e.main),
        ("webhooks", webhooks.main),
        (
            "webhooks: the dispatcher's CPU a delivery, in process, beside the bare loop's",
            lambda: dispatcher_cpu.main(2000, 5, None),
        ),
        ("tracing on and off: the ingress and end to end", tracing.main),
        (
            "read side: GET /orders by query shape, the export, the report (seeds ORDERS_READ_BENCH_ORDERS, 1,000,000)",
            reads.main,
        ),
    ):
        print(f"\n=== {name} ===", flush=True)
        await run()


if __name__ == "__main__":
    asyncio.run(main())
