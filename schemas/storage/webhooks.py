"""The webhook-dispatcher's documents: the delivery queue (one per event and URL) and the
append-only history of attempts."""

from enum import StrEnum

from schemas.api import WebhookAttemptView
from schemas.base import Timestamp, WireModel

WEBHOOK_DELIVERIES = "webhook_deliveries"
WEBHOOK_ATTEMPTS = "webhook_attempts"


class DeliveryState(StrEnum):
    PENDING = "pending"
    """Waiting for its next attempt (at ``due_at``)."""
    DELIVERED = "delivered"
    ABORTED = "aborted"
    """The receiver answered 410 Gone or ``webhook-delivery: abort-message``."""
    DEAD = "dead"
    """Every attempt of the schedule failed: a dead letter, until replayed."""


class WebhookDelivery(WireModel):
    id: str
    event_id: str
    event_type: str
    order_id: str
    merchant_id: str
    version: int
    url: str
    body: str
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    due_at: Timestamp
    lease_until: Timestamp
    created_at: Timestamp
    last_error: str | None = None
    traceparent: str | None = None
    """The trace of the event's change, which every attempt continues."""
    endpoint_id: str | None = None
    """The merchant's webhook endpoint this delivery goes to (None: an order's own URL)."""
    status: str | None = None
    """The order's status (the return's, for returns events), which endpoint filters match."""
    batch_id: str = ""
    """The batch that last took the delivery up: queued together from a batch of events, or
    claimed together for a retry (at most 100 each). Delivered ones leave the queue a batch at
    a time, with a filter on this field that FerretDB, unlike ``_id $in``, serves from an index."""


class WebhookAttempt(WebhookAttemptView):
    """One attempt: what merchants read back (``GET /orders/{id}/webhook-deliveries``), and
    which delivery, order and merchant it belongs to."""

    delivery_id: str
    order_id: str
    merchant_id: str
    endpoint_id: str | None = None
    event_type: str | None = None
