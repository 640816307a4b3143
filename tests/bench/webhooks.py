"""Webhook delivery throughput.

1. A bare aiohttp loop (64 requests in flight, ~1.5 KB bodies) against a receiver that
   answers at once: the most this machine's client side can do.
2. The dispatcher delivering N events (one URL each) to the same receiver: deliveries/s,
   and its ratio to (1).
3. Events with ten URLs, one of which hangs: the nine healthy URLs' deliveries/s, against
   the same events with only the nine healthy URLs, and against ten healthy URLs (the
   control: on a saturated machine any tenth URL costs the nine its share).
4. Fan-out to merchants' endpoints: one merchant with 20 webhook endpoints and 1,000 orders
   (events without order URLs): every endpoint gets every event; deliveries/s beside (2).

The dispatcher is a separate process (`orders serve dispatcher`); events are published to
order.events before it starts, so the figure is the dispatcher's own.

    make bench        (or: python -m tests.bench.webhooks)
"""

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiokafka import AIOKafkaProducer

from schemas.base import utc_now
from services.domain.endpoints import EVENT_TYPES
from services.ingress.endpoint_store import EndpointStore
from tests.support.commands import creation_event
from tests.support.stack import eventually, free_port

from .common import deployment, machine
from .results import record

EVENTS = 30_000
FAN_OUT_EVENTS = 3000
ENDPOINTS = 20
ENDPOINT_EVENTS = 1000


async def healthy_count(session: aiohttp.ClientSession, base: str, prefixes: list[str], tag: str) -> int:
    async with session.get(base + "/count") as response:
        found: dict[str, int] = await response.json()
    return sum(found.get(prefix + tag, 0) for prefix in prefixes)


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[str]:
    """The receiver in a process of its own, once it answers; yields its base URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.bench.receiver_server", str(port))
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def answering() -> bool:
                try:
                    await healthy_count(session, base, [], "")
                except aiohttp.ClientConnectionError:
                    return False
                return True

            await eventually(answering, timeout=30, interval=0.05)
        yield base
    finally:
        process.terminate()
        await process.wait()


BARE_BODY = b'{"event":"order.status.updated","order":' + b'{"x":"' + b"y" * 1400 + b'"}}'


async def bare_post(session: aiohttp.ClientSession, base: str) -> None:
    """One POST of the bare loop: a body of a webhook's size, nothing else."""
    async with session.post(base + "/bare/x", data=BARE_BODY, headers={"content-type": "application/json"}) as r:
        await r.read()


async def concurrent_posts(
    post: Callable[[], Awaitable[None]], seconds: float, in_flight: int = 64
) -> tuple[float, float]:
    """``in_flight`` loops of ``post`` for ``seconds``: POSTs a second, and this process's CPU
    time a POST in µs (``time.process_time``: every thread, the client's own included)."""
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await post()
            done += 1

    cpu, started = time.process_time(), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    cpu, wall = time.process_time() - cpu, time.monotonic() - started
    return done / wall, cpu / max(done, 1) * 1e6


async def bare_loop(base: str, seconds: float = 8, in_flight: int = 64) -> float:
    async with aiohttp.ClientSession() as session:
        rate, _ = await concurrent_posts(lambda: bare_post(session, base), seconds, in_flight)
    return rate


def events(merchant_id: str, urls: list[str], count: int) -> list[bytes]:
    now = utc_now()
    return [creation_event(merchant_id, urls, now).model_dump_json().encode() for _ in range(count)]


async def dispatch(
    name: str, base: str, urls_of: object, count: int, healthy_prefixes: list[str], endpoints: bool = False
) -> float:
    """Publish ``count`` events, start a dispatcher, wait until every healthy URL has them
    all; healthy deliveries per second, timed from the first healthy delivery. With
    ``endpoints``, the URLs are the merchant's webhook endpoints, not the orders'."""
    stack = deployment(f"webhooks-{name}")
    await stack.start("ingress", wait=False)
    stack.processes["ingress"].stop()
    try:
        merchant = await stack.merchant()
        producer = AIOKafkaProducer(bootstrap_servers=stack.settings.kafka_bootstrap_servers, linger_ms=20)
        await producer.start()
        tag = uuid.uuid4().hex[:8]
        urls = urls_of(tag)  # type: ignore[operator]
        if endpoints:
            registry = EndpointStore(stack.db)
            await registry.prepare()
            for url in urls:
                fields = {"url": url, "event_types": list(EVENT_TYPES), "statuses": []}
                await registry.create(merchant.merchant_id, fields, utc_now())
        for value in events(merchant.merchant_id, [] if endpoints else urls, count):
            await producer.send(
                stack.settings.topics.order_events, value, headers=[("content-type", b"application/json")]
            )
        await producer.flush()
        await producer.stop()
        target = count * len(healthy_prefixes)
        async with aiohttp.ClientSession() as session:
            before = await healthy_count(session, base, healthy_prefixes, tag)
            stack.processes["dispatcher"].start()
            first: float | None = None
            while True:
                got = await healthy_count(session, base, healthy_prefixes, tag) - before
                if got and first is None:
                    first = time.monotonic()
                if got >= target:
                    break
                await asyncio.sleep(0.05)
        assert first is not None
        return target / max(time.monotonic() - first, 1e-3)
    finally:
        await stack.close()


async def main() -> None:
    async with receiver() as base:
        print(f"machine: {machine()}")
        bare = await bare_loop(base)
        print(f"bare aiohttp loop, 64 in flight:                 {bare:8.0f} POST/s")
        one_url = await dispatch("one-url", base, lambda tag: [f"{base}/ok{tag}/hook"], EVENTS, ["ok"])
        print(f"dispatcher, {EVENTS} events x 1 URL:              {one_url:8.0f} deliveries/s", end="")
        print(f"   ratio to the bare loop {one_url / bare:.2f}")
        record(
            "dispatcher deliveries/s / bare aiohttp loop POST/s",
            one_url / bare,
            0.5,
            "ratio",
            dispatcher_per_second=round(one_url),
            bare_per_second=round(bare),
            events=EVENTS,
        )
        healthy = [f"h{i}-" for i in range(9)]

        def nine_and(tenth: str | None) -> object:
            return lambda tag: [f"{base}/{p}{tag}/hook" for p in healthy] + ([tenth.format(tag=tag)] if tenth else [])

        nine = await dispatch("nine", base, nine_and(None), FAN_OUT_EVENTS, healthy)
        print(f"dispatcher, {FAN_OUT_EVENTS} events x 9 healthy URLs:          {nine:8.0f} deliveries/s")
        # The control: a tenth URL that is healthy too (counted apart) costs the nine its share
        # of a saturated machine; the hanging tenth's own cost is what it takes beyond that.
        control = await dispatch("ten-healthy", base, nine_and(base + "/extra{tag}/hook"), FAN_OUT_EVENTS, healthy)
        print(f"dispatcher, {FAN_OUT_EVENTS} events x 9 healthy + 1 healthy:   {control:8.0f} healthy/s", end="")
        print(f"   change {control / nine - 1:+.0%}")
        ten = await dispatch("ten-one-hanging", base, nine_and(base + "/hang/{tag}"), FAN_OUT_EVENTS, healthy)
        print(f"dispatcher, {FAN_OUT_EVENTS} events x 9 healthy + 1 hanging:   {ten:8.0f} healthy/s", end="")
        print(f"   change {ten / nine - 1:+.0%} ({ten / control - 1:+.0%} against a healthy tenth)")
        prefixes = [f"e{i}-" for i in range(ENDPOINTS)]
        fan_out = await dispatch(
            "endpoints",
            base,
            lambda tag: [f"{base}/{p}{tag}/hook" for p in prefixes],
            ENDPOINT_EVENTS,
            prefixes,
            endpoints=True,
        )
        print(
            f"dispatcher, {ENDPOINT_EVENTS} events x {ENDPOINTS} endpoints:        {fan_out:8.0f} deliveries/s", end=""
        )
        print(f"   ratio to one URL per event {fan_out / one_url:.2f}")
        record(
            f"endpoint fan-out deliveries/s ({ENDPOINTS} endpoints) / one-URL deliveries/s",
            fan_out / one_url,
            None,
            "ratio",
            fan_out_per_second=round(fan_out),
            one_url_per_second=round(one_url),
        )


if __name__ == "__main__":
    asyncio.run(main())
