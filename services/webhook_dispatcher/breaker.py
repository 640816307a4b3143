"""A circuit breaker per destination host: an endpoint that fails everything is probed
once in a while instead of hammered, and the others keep their throughput."""

import time
from dataclasses import dataclass


@dataclass
class _HostState:
    consecutive_failures: int = 0
    open_until: float = 0.0
    probing: bool = False


class CircuitBreakers:
    def __init__(self, failure_threshold: int = 5, cooldown_seconds: float = 30.0) -> None:
        self._threshold = failure_threshold
        self._cooldown = cooldown_seconds
        self._hosts: dict[str, _HostState] = {}

    def blocked_for(self, host: str, now: float | None = None) -> float:
        """Seconds until the host may be tried again; 0 when it may be tried now. Once
        the cooldown is over, a single probe is let through until it reports back."""
        state = self._hosts.get(host)
        if state is None or state.consecutive_failures < self._threshold:
            return 0.0
        now = time.monotonic() if now is None else now
        if now < state.open_until:
            return state.open_until - now
        if state.probing:
            return self._cooldown
        state.probing = True
        return 0.0

    def record(self, host: str, succeeded: bool, now: float | None = None) -> None:
        state = self._hosts.setdefault(host, _HostState())
        state.probing = False
        if succeeded:
            state.consecutive_failures = 0
            return
        state.consecutive_failures += 1
        if state.consecutive_failures >= self._threshold:
            state.open_until = (time.monotonic() if now is None else now) + self._cooldown
