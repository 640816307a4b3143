"""Concurrency limits per key (URL, host) whose state exists only while the key is in use,
and rate limits per webhook endpoint."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from types import TracebackType

from aiolimiter import AsyncLimiter


class KeyedLimiter:
    """At most ``limit`` holders of each key at once. Every webhook attempt holds two keys,
    so a hold is a small class rather than a generator: an attempt's holds (with its rate's
    ``queued``) cost 2.9 µs this way, 7.0 µs as generators."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, _Slots] = {}

    def hold(self, key: str) -> "_Hold":
        return _Hold(self._slots, key, self._limit)

    def __len__(self) -> int:
        return len(self._slots)


class _Slots:
    """A key's semaphore, and how many hold it or wait for it (the key is forgotten at 0)."""

    __slots__ = ("semaphore", "users")

    def __init__(self, limit: int) -> None:
        self.semaphore = asyncio.Semaphore(limit)
        self.users = 0


class _Hold:
    __slots__ = ("_key", "_limit", "_slots")

    def __init__(self, slots: dict[str, _Slots], key: str, limit: int) -> None:
        self._slots, self._key, self._limit = slots, key, limit

    async def __aenter__(self) -> None:
        slots = self._slots.get(self._key)
        if slots is None:
            slots = self._slots[self._key] = _Slots(self._limit)
        slots.users += 1
        try:
            await slots.semaphore.acquire()
        except BaseException:
            self._leave(slots)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        slots = self._slots[self._key]
        slots.semaphore.release()
        self._leave(slots)

    def _leave(self, slots: _Slots) -> None:
        slots.users -= 1
        if not slots.users:
            del self._slots[self._key]


NOT_LIMITED: AbstractAsyncContextManager[None] = nullcontext()


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

    def queued(self, key: str | None) -> AbstractAsyncContextManager[None]:
        """An attempt to ``key`` (None: not limited) from now until it is sent."""
        return NOT_LIMITED if key is None else self._queued(key)

    @asynccontextmanager
    async def _queued(self, key: str) -> AsyncIterator[None]:
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
