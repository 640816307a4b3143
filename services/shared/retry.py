"""Retry policies (tenacity) for the infrastructure the services depend on."""

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError, KafkaError
from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: Errors that say the database is out of reach for now, not that the request is wrong.
MONGO_UNAVAILABLE = (AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError)
KAFKA_UNAVAILABLE = (KafkaConnectionError, KafkaError, OSError)


def _log_wait(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "%s is not reachable yet (%s: %s); retrying in %.1fs",
            what,
            type(error).__name__,
            error,
            state.upcoming_sleep,
        )

    return before_sleep


async def until_available(what: str, call: Callable[[], Awaitable[T]], errors: tuple[type[BaseException], ...]) -> T:
    """Call ``call`` until it stops raising one of ``errors``: for start-up, where the
    service must wait for Kafka or MongoDB instead of crashing."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(errors),
        wait=wait_exponential(multiplier=0.5, max=10),
        before_sleep=_log_wait(what),
        reraise=True,
    ):
        with attempt:
            return await call()
    raise AssertionError("unreachable")
