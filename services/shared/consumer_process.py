"""What the order-writer and the webhook-dispatcher both run on: the database and its
indexes, the topics, a FastStream broker, ``/health``, ``/ready`` and ``/metrics`` on a port
of their own (answering before the rest has started), and their consumer lag, measured."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker

from .kafka import AssignmentWatch, GroupOffsets, ensure_topics, make_broker
from .mongo import Database, Indexes, close_client, open_database, prepare_database
from .operations import consumer_checks, serve_operations
from .runtime import every
from .settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class ConsumerProcess:
    db: Database
    broker: KafkaBroker
    offsets: GroupOffsets
    watches: list[AssignmentWatch] = field(default_factory=list)
    """The subscribers' group memberships, which ``/ready`` asks: add them as they are made."""
    stopping_since: float | None = None

    def stopping(self, name: str) -> None:
        """Say the process is stopping (its own shutdown follows; this one's after it)."""
        logger.info("%s stopping", name)
        self.stopping_since = time.monotonic()


@asynccontextmanager
async def consumer_process(
    settings: Settings, name: str, role: str, http_port: int, indexes: Indexes, groups: dict[str, str]
) -> AsyncIterator[ConsumerProcess]:
    """``groups``: the process's consumer groups and the topic each reads, for the lag."""
    client, db = open_database(settings)
    broker = make_broker(settings, role)
    process = ConsumerProcess(db, broker, GroupOffsets(settings.kafka_bootstrap_servers, f"orders-{role}-offsets"))
    operations = await serve_operations(
        name, settings.http_host, http_port, consumer_checks(db, broker, process.watches)
    )
    await prepare_database(db, indexes)
    await ensure_topics(settings)
    await process.offsets.start()
    lag = asyncio.create_task(
        every(settings.metrics_interval_seconds, "measuring consumer lag", lambda: process.offsets.export_lag(groups))
    )
    try:
        yield process
    finally:
        lag.cancel()
        await process.offsets.stop()
        operations.should_exit = True
        await close_client(client)
        if process.stopping_since is not None:
            logger.info("%s stopped in %.1fs", name, time.monotonic() - process.stopping_since)
