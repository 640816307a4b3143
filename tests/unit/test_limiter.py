import asyncio

from services.webhook_dispatcher.limiter import KeyedLimiter


async def test_limits_each_key_on_its_own_and_forgets_idle_keys() -> None:
    limiter = KeyedLimiter(2)
    running: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def work(key: str) -> None:
        async with limiter.hold(key):
            running[key] += 1
            peak[key] = max(peak[key], running[key])
            await asyncio.sleep(0.01)
            running[key] -= 1

    await asyncio.gather(*(work("a") for _ in range(6)), *(work("b") for _ in range(3)))
    assert peak == {"a": 2, "b": 2}
    assert len(limiter) == 0


async def test_a_held_key_does_not_block_another() -> None:
    limiter = KeyedLimiter(1)
    release = asyncio.Event()

    async def hold_a() -> None:
        async with limiter.hold("a"):
            await release.wait()

    blocker = asyncio.create_task(hold_a())
    await asyncio.sleep(0)
    async with asyncio.timeout(1), limiter.hold("b"):
        pass
    release.set()
    await blocker


async def test_a_waiter_cancelled_before_its_turn_leaves_no_trace() -> None:
    limiter = KeyedLimiter(1)
    release, held, waiting = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold_a() -> None:
        async with limiter.hold("a"):
            held.set()
            await release.wait()

    async def wait_for_a() -> None:
        waiting.set()  # then it parks on the key's semaphore without yielding before that
        async with limiter.hold("a"):
            raise AssertionError("cancelled before its turn")

    holder = asyncio.create_task(hold_a())
    await held.wait()
    waiter = asyncio.create_task(wait_for_a())
    await waiting.wait()
    waiter.cancel()
    release.set()
    await holder
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
    assert len(limiter) == 0
    async with asyncio.timeout(1), limiter.hold("a"):  # the key's slot is free again
        pass
