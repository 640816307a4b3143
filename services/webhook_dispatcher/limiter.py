"""Concurrency limits per key (URL, host) whose state exists only while the key is in use,
and rate limits per webhook endpoint."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter


class KeyedLimiter:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._semaphores: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        semaphore, users = self._semaphores.get(key, (asyncio.Semaphore(self._limit), 0))
        self._semaphores[key] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._semaphores[key]
            if users == 1:
                del self._semaphores[key]
            else:
                self._semaphores[key] = (semaphore, users - 1)

    def __len__(self) -> int:
        return len(self._semaphores)


class RateLimits:
    """Attempts per second per endpoint, with aiolimiter: at most one attempt each
    ``SPACING_MARGIN / rate`` seconds, so no second window holds more than ``rate`` attempts
    (a bucket of ``rate`` would let a burst of ``rate`` follow a full second). It counts the
    attempts queued for each endpoint, to say how long a new one would wait: one that would
    wait past its lease is postponed in the queue instead of held in memory."""

    SPACING_MARGIN = 1.05
    """Arrival times jitter by milliseconds; a 5 % wider spacing keeps every window under the cap."""

    def __init__(self) -> None:
        self._limiters: dict[str, tuple[int, AsyncLimiter]] = {}
        self._waiting: dict[str, int] = {}

    def spacing(self, per_second: int) -> float:
        return self.SPACING_MARGIN / per_second

    def expected_wait(self, key: str, per_second: int) -> float:
        return self._waiting.get(key, 0) * self.spacing(per_second)

    @asynccontextmanager
    async def queued(self, key: str | None) -> AsyncIterator[None]:
        """An attempt to ``key`` (None: not limited) from now until it is sent."""
        if key is None:
            yield
            return
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            yield
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]

    async def acquire(self, key: str, per_second: int) -> None:
        """Wait for the endpoint's next slot: called right before the request is sent, so the
        spacing holds on the wire too."""
        found = self._limiters.get(key)
        if found is None or found[0] != per_second:
            found = (per_second, AsyncLimiter(1, self.spacing(per_second)))
            self._limiters[key] = found
        await found[1].acquire()
