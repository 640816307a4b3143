"""Load generation for the benchmarks: closed loop (N clients, each sending as soon as its
last answer came) for peak throughput, open loop (a fixed offered rate) for latency at a
given rate. Both are bounded in requests and time and stop by themselves."""

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Request = Callable[[int], Awaitable[int]]
"""Sends request number i; returns the HTTP status."""


@dataclass
class Result:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def line(self) -> str:
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return (
            f"{self.name:<44} {self.rate:8.1f} req/s   p50 {self.percentile(50):7.1f} ms   "
            f"p99 {self.percentile(99):7.1f} ms   mean {statistics.fmean(self.latencies_ms or [0]):7.1f} ms"
            f"   [{statuses}]"
        )


async def closed_loop(name: str, send: Request, *, clients: int, requests: int, max_seconds: float) -> Result:
    result = Result(name)
    counter = iter(range(requests))
    deadline = time.monotonic() + max_seconds

    async def client() -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            status = await send(i)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] += 1

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.monotonic() - started
    return result


async def open_loop(name: str, send: Request, *, rate: float, seconds: float) -> Result:
    """Send at ``rate`` requests per second for ``seconds``, whatever the answers take."""
    result = Result(name)
    tasks: list[asyncio.Task[None]] = []

    async def one(i: int) -> None:
        started = time.perf_counter()
        status = await send(i)
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.statuses[status] += 1

    began = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    result.seconds = time.monotonic() - began
    return result
