"""Running a service until SIGTERM or SIGINT, and background loops that survive errors."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def every(seconds: float, name: str, work: Callable[[], Awaitable[object]]) -> None:
    """Run ``work`` every ``seconds`` until cancelled; a failed round is logged, not fatal."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s failed; trying again in %.1fs", name, seconds)
        await asyncio.sleep(seconds)


class Pace:
    """At most one round of some work per ``seconds``: ``wait`` returns once that long has
    passed since the previous round began. A consumer that writes once per batch paces
    itself so, and its batches grow with the load instead of its writes (Kafka's
    ``linger.ms``, on the consuming side)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._began = 0.0

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self._began + self._seconds - loop.time()))
        self._began = loop.time()
