"""How far the writer's consumer group has read ``checkout.events`` (the intake clock).

A partition is read through the moment its end offset was sampled once the group's
committed offset reaches that end (offsets are committed only after handling); while it
lags, through the newest event this process handled there. Readings go to the database, so
that with several writers each partition's reading comes from whichever writer owns it."""

import logging
from datetime import UTC, datetime

from schemas.base import utc_now
from services.domain.creation import intake_clock, partition_read_through
from services.shared.kafka import GroupOffsets

from .store import CheckoutProgress

logger = logging.getLogger(__name__)


class CheckoutIntake:
    def __init__(self, offsets: GroupOffsets, topic: str, group_id: str, progress: CheckoutProgress) -> None:
        self._topic = topic
        self._group_id = group_id
        self._progress = progress
        self._newest_handled: dict[int, datetime] = {}
        self._partitions = 0
        self._offsets = offsets

    def handled(self, partition: int, timestamp_ms: int) -> None:
        """A checkout event of ``partition``, produced at ``timestamp_ms``, was handled."""
        at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        if at > self._newest_handled.get(partition, at.min.replace(tzinfo=UTC)):
            self._newest_handled[partition] = at

    async def measure(self) -> None:
        """Read the ends and the group's committed offsets, and record how far each
        partition has been read."""
        sampled_at = utc_now()
        offsets = await self._offsets.read(self._group_id, self._topic)
        if not offsets:
            return
        readings: dict[int, datetime] = {}
        for partition, (end, committed) in offsets.items():
            caught_up = end == 0 or (committed is not None and committed >= end)
            reading = partition_read_through(caught_up, sampled_at, self._newest_handled.get(partition))
            if reading is not None:
                readings[partition] = reading
        await self._progress.advance(readings)
        self._partitions = len(offsets)

    async def clock(self) -> datetime | None:
        """Every checkout event produced before this moment has been read (None: unknown)."""
        return intake_clock(await self._progress.read_through(), self._partitions)
