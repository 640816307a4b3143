"""What every benchmark shares: the machine it ran on, and a deployment to run against."""

import asyncio
import os
import platform
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.checkout import Checkout, CheckoutStatus
from schemas.storage.orders import CHECKOUTS, CheckoutDocument
from tests.support.demo import demo_checkout
from tests.support.infrastructure import Infrastructure
from tests.support.stack import Stack, eventually

LOGS = Path(__file__).resolve().parents[2] / ".local" / "logs" / "bench"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, Python {platform.python_version()}"


def memory_mib(pid: int | None, figure: str) -> float:
    """A process's memory figure from ``/proc`` in MiB: ``VmRSS`` (now) or ``VmHWM`` (its
    peak). NaN for no process."""
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{figure}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


TEST_ONLY_SETTINGS = ("ORDERS_METRICS_INTERVAL_SECONDS", "ORDERS_API_KEY_CACHE_SECONDS")
"""Settings the tests shorten so that what they wait for comes sooner (a gauge, a revoked
key), at the price of reads every second or less; a benchmark runs the services' defaults."""


def deployment(name: str, overrides: dict[str, str] | None = None) -> Stack:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    mongodb = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/orders")
    directory = LOGS / name
    directory.mkdir(parents=True, exist_ok=True)
    stack = Stack(Infrastructure(kafka, mongodb), directory, overrides)
    for setting in TEST_ONLY_SETTINGS:
        if setting not in (overrides or {}):
            stack.env.pop(setting)
    return stack


async def paid_checkouts_in_view(stack: Stack, merchant_id: str, count: int) -> list[Checkout]:
    """``count`` paid checkouts, put straight into the writer's view as it stores them (its
    own ``CheckoutDocument``), so that a benchmark starts from checkouts already known."""
    checkouts = [demo_checkout(merchant_id, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout for _ in range(count)]
    for start in range(0, count, 2000):
        await stack.db[CHECKOUTS].insert_many(
            [{"_id": c.id, **CheckoutDocument.of(c).model_dump(mode="python")} for c in checkouts[start : start + 2000]]
        )
    return checkouts


async def consumer_group_rate(stack: Stack, role: str, total: int, max_seconds: float) -> tuple[float, int]:
    """How fast the writers' consumer group ``role`` works through ``total`` messages: from
    its first commit until it has committed them all (or ``max_seconds`` pass). Read from
    Kafka, so measuring puts no load on the database. Returns (messages/s, handled)."""
    group = f"{stack.prefix}orders-writer.{role}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    await admin.start()
    try:

        async def handled(before: int = 0) -> int:
            """Committed so far; ``before`` while Kafka cannot tell yet (a broker's first
            consumer group waits for its coordinator: GroupCoordinatorNotAvailable)."""
            try:
                offsets = await admin.list_consumer_group_offsets(group)
            except KafkaError as error:
                if not error.retriable:
                    raise
                return before
            return sum(max(o.offset, 0) for o in offsets.values())

        first = await eventually(handled, timeout=60, interval=0.02)
        started = time.monotonic()
        done = first
        while done < total and time.monotonic() - started < max_seconds:
            await asyncio.sleep(0.2)
            done = await handled(done)
        return (done - first) / (time.monotonic() - started), done
    finally:
        await admin.close()
