"""Running a service until SIGTERM or SIGINT, and background loops that survive errors."""

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


GC_THRESHOLDS = (50_000, 20, 100)
"""The cyclic garbage collector runs after this many net allocations (Python's default: 700,
10, 10). A batch of 500 orders allocates hundreds of thousands of short-lived objects, and
with the defaults the writer spent a tenth of its time collecting: from a backlog of create
commands, 1,761 orders/s with the defaults against 2,106 with these (``tests/bench/writer``,
same hour). Objects still in reference cycles live a little longer, which the RSS figures of
the benchmarks include."""


def tune_garbage_collector() -> None:
    """Collect less often, and leave what the imports and start-up made out of every
    collection (``gc.freeze``): it lives as long as the process."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


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
