"""The webhook-dispatcher's own metrics (README.md lists every metric)."""

import functools

from prometheus_client import Counter, Gauge, Histogram

from services.shared.metrics import LATENCY_BUCKETS

WEBHOOK_ATTEMPTS = Counter(
    "orders_webhook_attempts", "Webhook attempts, by outcome (delivered, failed, aborted)", ["outcome"]
)
WEBHOOK_DURATION = Histogram(
    "orders_webhook_attempt_duration_seconds",
    "Duration of a webhook attempt, by outcome",
    ["outcome"],
    buckets=LATENCY_BUCKETS,
)
DELIVERIES_WAITING = Gauge(
    "orders_webhook_deliveries_waiting",
    "Webhook deliveries waiting for an attempt: due now, or scheduled for later",
    ["when"],
)
DEAD_LETTERS = Gauge("orders_webhook_dead_letters", "Webhook deliveries dead-lettered and not replayed")


@functools.cache
def attempt_metrics(outcome: str) -> tuple[Counter, Histogram]:
    """The attempts' counter and duration for one outcome (``labels`` looks each up under a
    lock, on every attempt)."""
    return WEBHOOK_ATTEMPTS.labels(outcome), WEBHOOK_DURATION.labels(outcome)
