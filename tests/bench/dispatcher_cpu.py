"""Where the dispatcher's time goes per delivery, without Kafka or a second process in the
way: its real ``Dispatcher`` fed batches of 500 order events (their JSON decoded as the
consumer decodes it) over the real MongoDB adapters of a deployment of its own and the real
``WebhookSender``, against the ``webhooks`` bench's receiver in its own process; beside it,
the bare aiohttp loop of that bench in the same process.
Prints the CPU time a delivery (this process's, from ``time.process_time``: the dispatcher,
aiohttp, PyMongo) of each, and their ratio: the dispatcher's deliveries a second can reach at
most the bare loop's times the inverse of that ratio, on a core of its own. With
``--profile FILE`` the dispatcher's batches run under cProfile, written to FILE for ``pstats``.

    python -m tests.bench.dispatcher_cpu [EVENTS] [--rounds N] [--profile FILE]      (after `make services`)
"""

import argparse
import asyncio
import cProfile
import statistics
import time

import aiohttp
import uvloop

from schemas.endpoint_events import WebhookEndpointDisabled
from schemas.events import order_event_adapter
from services.ingress.endpoint_queries import EndpointQueries
from services.shared.kafka import decode
from services.shared.merchant_store import MerchantStore
from services.shared.mongo import ensure_indexes
from services.shared.runtime import tune_garbage_collector
from services.shared.tracing import configure_tracing
from services.webhook_dispatcher.ports import Endpoints
from services.webhook_dispatcher.sender import WebhookSender
from services.webhook_dispatcher.service import Dispatcher
from services.webhook_dispatcher.store import INDEXES, DeliveryStore, EndpointHealthStore

from .common import deployment, machine
from .webhooks import bare_post, events, healthy_count, receiver

BATCH = 500
IN_FLIGHT = 64


async def measure(base: str, count: int, rounds: int, profile: str | None) -> list[tuple[float, float]]:
    """(dispatcher's CPU µs a delivery, bare loop's CPU µs a POST) of each of ``rounds``
    alternating rounds of ``count`` events with one URL each, after a warm-up of both."""
    stack = deployment("dispatcher-cpu")
    try:
        merchant = await stack.merchant()
        await ensure_indexes(stack.db, INDEXES)
        sender = WebhookSender(timeout_seconds=10, allow_private=True, connections=256)
        await sender.start()

        async def announce(event: WebhookEndpointDisabled) -> None:
            raise AssertionError(f"no endpoint is disabled here: {event}")

        endpoints = Endpoints(EndpointQueries(stack.db), EndpointHealthStore(stack.db), announce)
        dispatcher = Dispatcher(DeliveryStore(stack.db), MerchantStore(stack.db), sender, stack.settings, endpoints)
        bodies = events(merchant.merchant_id, [f"{base}/cpu/hook"], BATCH + rounds * count)
        profiler = cProfile.Profile()

        async def dispatch(batch: list[bytes]) -> float:
            cpu = time.process_time()
            if profile:
                profiler.enable()
            for start in range(0, len(batch), BATCH):
                decoded = [decode(body, order_event_adapter) for body in batch[start : start + BATCH]]
                await dispatcher.take_events(decoded, [None] * len(decoded))
            if profile:
                profiler.disable()
            return (time.process_time() - cpu) / len(batch) * 1e6

        async with aiohttp.ClientSession() as session:
            await dispatch(bodies[:BATCH])
            await bare_cpu(session, base, BATCH)
            figures = [
                (
                    await dispatch(bodies[BATCH + i * count : BATCH + (i + 1) * count]),
                    await bare_cpu(session, base, count),
                )
                for i in range(rounds)
            ]
            delivered = await healthy_count(session, base, ["cpu"], "")
        await sender.close()
        if delivered != len(bodies):
            raise RuntimeError(f"{delivered} of {len(bodies)} deliveries reached the receiver")
        if profile:
            profiler.dump_stats(profile)
        return figures
    finally:
        await stack.close()


async def bare_cpu(session: aiohttp.ClientSession, base: str, count: int) -> float:
    """CPU µs a POST of the ``webhooks`` bench's bare loop (``IN_FLIGHT`` at once)."""
    left = iter(range(count))

    async def worker() -> None:
        for _ in left:
            await bare_post(session, base)

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return (time.process_time() - cpu) / count * 1e6


async def main(count: int, rounds: int, profile: str | None) -> None:
    configure_tracing("orders-webhook-dispatcher")
    tune_garbage_collector()
    async with receiver() as base:
        figures = await measure(base, count, rounds, profile)
    dispatcher, bare = (statistics.median(f[i] for f in figures) for i in (0, 1))
    print(f"machine: {machine()}")
    print(f"  dispatcher, events x 1 URL: {dispatcher:6.0f} µs CPU a delivery (median of {rounds} rounds of {count})")
    print(f"  bare aiohttp loop:          {bare:6.0f} µs CPU a POST (the same rounds, alternating)")
    ratios = sorted(d / b for d, b in figures)
    each = " ".join(f"{r:.2f}" for r in ratios)
    print(f"  dispatcher / bare CPU, each round: {each}; median {statistics.median(ratios):.2f}")
    if profile:
        print(f"  profile of the dispatcher's rounds in {profile}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="?", type=int, default=2000, help="events a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", metavar="FILE")
    arguments = parser.parse_args()
    uvloop.run(main(arguments.events, arguments.rounds, arguments.profile))
