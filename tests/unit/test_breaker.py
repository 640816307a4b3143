from services.webhook_dispatcher.breaker import CircuitBreakers


def test_opens_after_consecutive_failures_and_lets_one_probe_through() -> None:
    breakers = CircuitBreakers(failure_threshold=3, cooldown_seconds=10)
    for _ in range(2):
        breakers.record("h", succeeded=False, now=0)
    assert breakers.blocked_for("h", now=0) == 0
    breakers.record("h", succeeded=False, now=0)
    assert breakers.blocked_for("h", now=1) == 9
    assert breakers.blocked_for("other", now=1) == 0
    assert breakers.blocked_for("h", now=10) == 0  # the probe
    assert breakers.blocked_for("h", now=10) > 0  # only one at a time
    breakers.record("h", succeeded=True, now=11)
    assert breakers.blocked_for("h", now=11) == 0


def test_a_failed_probe_opens_the_circuit_again() -> None:
    breakers = CircuitBreakers(failure_threshold=1, cooldown_seconds=10)
    breakers.record("h", succeeded=False, now=0)
    assert breakers.blocked_for("h", now=10) == 0
    breakers.record("h", succeeded=False, now=10)
    assert breakers.blocked_for("h", now=12) == 8


def test_a_probe_that_never_reports_back_does_not_close_the_endpoint_for_good() -> None:
    """A probe whose attempt failed before it had a result (a database error while reading
    the signing secrets) never calls ``record``; the next probe comes after one cooldown."""
    breakers = CircuitBreakers(failure_threshold=1, cooldown_seconds=30)
    breakers.record("u", succeeded=False, now=0)
    assert breakers.blocked_for("u", now=30) == 0  # the probe is granted, and lost
    assert breakers.blocked_for("u", now=45) > 0  # while it may still be running: no second probe
    assert breakers.blocked_for("u", now=60) == 0  # once it is overdue, another probe
