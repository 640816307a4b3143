"""Where the ingress's time goes per create, without HTTP or a load generator in the way:
its real ASGI app called in process by 32 concurrent callers, over the real MongoDB and
Kafka adapters of a deployment of its own (its checkouts put straight into the ingress's
memory, as ``checkout.events`` would), beside the bare validate-and-publish endpoint called
the same way.
Prints the CPU time a request (this process's, from ``time.process_time``: the app, the
Kafka and MongoDB clients) of each. With ``--profile FILE`` the ingress's calls run under
cProfile, written to FILE for ``pstats`` (the CPU figure is then cProfile's, not the app's).

    python -m tests.bench.ingress_cpu [REQUESTS] [--profile FILE]      (after `make services`)
"""

import argparse
import asyncio
import cProfile
import json
import time
import uuid
from collections.abc import Awaitable, Callable

import uvloop
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from starlette.types import ASGIApp, Message

from schemas.checkout import Checkout
from schemas.topics import TOPIC_PARTITIONS
from services.ingress.app import Ingress, create_app, production_ingress
from services.shared.runtime import tune_garbage_collector
from services.shared.tracing import configure_tracing
from tests.bench.bare_ingress import bare_app
from tests.factories import checkout
from tests.support.asgi import orders_post_scope
from tests.support.stack import Stack, eventually

from .common import deployment, machine

CALLERS = 32


def caller_of(app: ASGIApp, api_key: str) -> Callable[[bytes], Awaitable[int]]:
    """POST /orders to ``app`` as uvicorn would hand it over: the status it answers."""
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {api_key}".encode())]

    async def post(body: bytes) -> int:
        content = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        scope = orders_post_scope([*headers, *content])
        delivered = asyncio.Event()
        status: list[int] = []

        async def receive() -> Message:
            if not delivered.is_set():
                delivered.set()
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never goes away
            raise AssertionError("unreachable")

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    return post


async def cpu_per_request(post: Callable[[bytes], Awaitable[int]], bodies: list[bytes]) -> tuple[float, float]:
    """(CPU µs a request, requests a second) for ``bodies`` sent by ``CALLERS`` at once."""
    pending = iter(bodies)
    statuses: list[int] = []

    async def caller() -> None:
        for body in pending:
            statuses.append(await post(body))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    if set(statuses) != {200}:
        raise RuntimeError(f"not every request was accepted: {sorted(set(statuses))}")
    return cpu / len(bodies) * 1e6, len(bodies) / elapsed


def bodies_for(checkouts: list[Checkout]) -> list[bytes]:
    """The bodies the ``ingress`` bench sends, one a checkout."""
    return [
        json.dumps({"checkoutId": c.id, "idempotencyKey": c.id, "meta": {"source": "bench"}}).encode()
        for c in checkouts
    ]


async def _connected(ingress: Ingress) -> bool | None:
    return ingress.commands.connected or None


async def main(requests: int, profile: str | None) -> None:
    configure_tracing("orders-ingress")
    tune_garbage_collector()
    stack = deployment("ingress-cpu")
    try:
        merchant = await stack.merchant()
        made = [checkout(merchant_id=merchant.merchant_id) for _ in range(2 * requests)]
        checkouts = [c.model_copy(update={"id": str(uuid.uuid4())}) for c in made]
        app = create_app(stack.settings)
        async with production_ingress(stack.settings) as ingress:
            await eventually(lambda: _connected(ingress), timeout=60)
            ingress.recent_checkouts.take(checkouts)
            app.state.ingress = ingress
            post = caller_of(app, merchant.api_key)
            await cpu_per_request(post, bodies_for(checkouts[:requests]))
            profiler = cProfile.Profile()
            if profile:
                profiler.enable()
            ingress_cpu, ingress_rate = await cpu_per_request(post, bodies_for(checkouts[requests:]))
            if profile:
                profiler.disable()
                profiler.dump_stats(profile)
        bare_cpu, bare_rate = await bare(stack, requests)
    finally:
        await stack.close()
    print(f"machine: {machine()}")
    print(f"  ingress, POST /orders in process: {ingress_cpu:6.0f} µs CPU a request ({ingress_rate:6.0f}/s)")
    print(f"  bare validate-and-publish:        {bare_cpu:6.0f} µs CPU a request ({bare_rate:6.0f}/s)")
    print(
        f"  ingress / bare CPU a request: {ingress_cpu / bare_cpu:.2f}" + (f"; profile in {profile}" if profile else "")
    )


async def bare(stack: Stack, requests: int) -> tuple[float, float]:
    """The bare endpoint, publishing to a topic of the deployment's own."""
    topic = stack.prefix + "bare.order.create"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, TOPIC_PARTITIONS, 1)])
        app = bare_app(stack.settings.kafka_bootstrap_servers, topic)
        async with app.router.lifespan_context(app):
            post = caller_of(app, "-")
            bodies = bodies_for([checkout().model_copy(update={"id": f"bare-{i}"}) for i in range(2 * requests)])
            await cpu_per_request(post, bodies[:requests])
            return await cpu_per_request(post, bodies[requests:])
    finally:
        await admin.delete_topics([topic])
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", nargs="?", type=int, default=5000)
    parser.add_argument("--profile", metavar="FILE")
    arguments = parser.parse_args()
    uvloop.run(main(arguments.requests, arguments.profile))
