"""How far the writer's consumer group has read ``checkout.events`` (the intake clock).

A partition is read through the moment its end offset was sampled once the group's
committed offset reaches that end (offsets are committed only after handling); while it
lags, through the newest event this process handled there. Readings go to the database, so
that with several writers each partition's reading comes from whichever writer owns it."""

import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.base import utc_now
from services.domain.creation import intake_clock, partition_read_through
from services.shared.kafka import topic_partitions
from services.shared.retry import KAFKA_UNAVAILABLE, until_available

from .store import CheckoutProgress

logger = logging.getLogger(__name__)


class CheckoutIntake:
    def __init__(self, bootstrap_servers: str, topic: str, group_id: str, progress: CheckoutProgress) -> None:
        self._topic = topic
        self._group_id = group_id
        self._progress = progress
        self._newest_handled: dict[int, datetime] = {}
        self._partitions = 0
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False, client_id="orders-intake-clock"
        )
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="orders-intake-clock")

    async def start(self) -> None:
        await until_available("Kafka", self._offsets.start, KAFKA_UNAVAILABLE)
        await until_available("Kafka", self._admin.start, KAFKA_UNAVAILABLE)

    async def stop(self) -> None:
        await self._offsets.stop()
        await self._admin.close()

    def handled(self, partition: int, timestamp_ms: int) -> None:
        """A checkout event of ``partition``, produced at ``timestamp_ms``, was handled."""
        at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        if at > self._newest_handled.get(partition, at.min.replace(tzinfo=UTC)):
            self._newest_handled[partition] = at

    async def measure(self) -> None:
        """Read the ends and the group's committed offsets, and record how far each
        partition has been read."""
        sampled_at = utc_now()
        assigned = [TopicPartition(self._topic, p) for p in await topic_partitions(self._admin, self._topic)]
        if not assigned:
            return
        ends = await self._offsets.end_offsets(assigned)
        committed = await self._admin.list_consumer_group_offsets(self._group_id, partitions=assigned)
        readings: dict[int, datetime] = {}
        for tp in assigned:
            done = committed.get(tp)
            caught_up = ends[tp] == 0 or (done is not None and done.offset >= ends[tp])
            reading = partition_read_through(caught_up, sampled_at, self._newest_handled.get(tp.partition))
            if reading is not None:
                readings[tp.partition] = reading
        await self._progress.advance(readings)
        self._partitions = len(assigned)

    async def clock(self) -> datetime | None:
        """Every checkout event produced before this moment has been read (None: unknown)."""
        return intake_clock(await self._progress.read_through(), self._partitions)
