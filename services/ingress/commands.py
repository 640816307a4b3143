"""Publishing commands to Kafka from requests: durable before the answer, or 503."""

import asyncio
import logging

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from services.shared.kafka import ensure_topics, make_broker, publish, start_broker
from services.shared.settings import Settings

logger = logging.getLogger(__name__)


class BrokerUnavailable(Exception):
    """Kafka did not confirm the message in time. Whether it has it is unknown: see
    ``CommandLog.abandon`` for how the caller finds out."""


class CommandPublisher:
    """Owns the ingress's Kafka client: its producer, and its consumer of checkout.events
    (``follow_checkouts``). It creates the topics that are missing and connects in the
    background, so the API answers (reads work, writes get 503) while Kafka is still
    starting or is down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.broker: KafkaBroker = make_broker(settings, "ingress", instrumented=False)
        self._connected = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        # Its own consumer of checkout.events would otherwise see no partitions of a topic
        # created after it started until its next metadata refresh (minutes).
        await ensure_topics(self._settings)
        await start_broker(self.broker)
        self._connected.set()
        logger.info("connected to Kafka at %s", self._settings.kafka_bootstrap_servers)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        await self.broker.stop()

    async def send(self, message: BaseModel, topic: str, key: str) -> None:
        """Publish, and return only once all in-sync replicas have the message; otherwise
        raise ``BrokerUnavailable``. The producer's request timeout bounds the wait."""
        if not self._connected.is_set():
            raise BrokerUnavailable("the message broker is not reachable yet")
        try:
            # A timeout scope, not ``wait_for``: on Python 3.11 that runs the publish in a task
            # of its own, whose creation and scheduling cost each request a few percent.
            async with asyncio.timeout(self._settings.publish_timeout_seconds * 2):
                await publish(self.broker, message, topic, key)
        except Exception as error:  # any failure to publish: the broker did not confirm
            logger.warning("publishing to %s failed: %s: %s", topic, type(error).__name__, error)
            raise BrokerUnavailable("the message broker did not confirm the request in time") from error
