"""A circuit breaker per endpoint (URL): an endpoint that fails everything is probed once
in a while instead of hammered, and the other endpoints keep their throughput."""

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _EndpointState:
    consecutive_failures: int = 0
    open_until: float = 0.0
    probe_until: float = 0.0
    """A probe is out until it reports back or this time passes, whichever comes first: a
    probe whose attempt never reports (an error before it had a result) cannot keep the
    endpoint closed for ever."""


class CircuitBreakers:
    def __init__(
        self, failure_threshold: int = 5, cooldown_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._endpoints: dict[str, _EndpointState] = {}

    def is_open(self, endpoint: str, now: float | None = None) -> bool:
        """Whether the endpoint is in its cooldown (a look only: no probe is granted)."""
        state = self._endpoints.get(endpoint)
        now = self._clock() if now is None else now
        return state is not None and state.consecutive_failures >= self._threshold and now < state.open_until

    def blocked_for(self, endpoint: str, now: float | None = None) -> float:
        """Seconds until the endpoint may be tried again; 0 when it may be tried now. Once
        the cooldown is over, a single probe is let through until it reports back."""
        state = self._endpoints.get(endpoint)
        if state is None or state.consecutive_failures < self._threshold:
            return 0.0
        now = self._clock() if now is None else now
        if now < state.open_until:
            return state.open_until - now
        if now < state.probe_until:
            return state.probe_until - now
        state.probe_until = now + self._cooldown
        return 0.0

    def record(self, endpoint: str, succeeded: bool, now: float | None = None) -> None:
        if succeeded:
            self._endpoints.pop(endpoint, None)  # healthy endpoints need no state
            return
        state = self._endpoints.setdefault(endpoint, _EndpointState())
        state.probe_until = 0.0
        state.consecutive_failures += 1
        if state.consecutive_failures >= self._threshold:
            state.open_until = (self._clock() if now is None else now) + self._cooldown
