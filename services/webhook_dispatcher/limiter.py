"""Concurrency limits per key (URL, host) whose state exists only while the key is in use."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


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
