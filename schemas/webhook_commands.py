"""``webhook.commands``: requests to the webhook-dispatcher (key = command id)."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from schemas.base import StrictWireModel, Timestamp, WireModel
from schemas.values import Text


class DeadLetterSelector(StrictWireModel):
    """Which dead letters: at least one selector, or ``all: true`` (an empty selector must
    not name every merchant's dead letters by accident). Also the body of the admin API's
    ``POST /admin/webhook-dead-letters/replay``."""

    delivery_id: Text | None = None
    order_id: Text | None = None
    url: Text | None = None
    since: Timestamp | None = None
    all: bool = False

    @model_validator(mode="after")
    def _one_selector(self) -> "DeadLetterSelector":
        chosen = [self.delivery_id, self.order_id, self.url, self.since]
        if self.all == any(value is not None for value in chosen):
            raise ValueError("give deliveryId, orderId, url or since, or else all: true (not both)")
        return self


class ReplayDeadLetters(WireModel):
    """Deliver the selected dead letters again, each with a new run of the retry schedule."""

    type: Literal["webhooks.replay"] = "webhooks.replay"
    command_id: str
    selector: DeadLetterSelector
    requested_at: Timestamp


class RecoverDeliveries(WireModel):
    """Send again, once, what failed to one webhook endpoint: every event since ``since``
    (or the one ``event_id`` names) whose last attempt failed, dead letters included."""

    type: Literal["webhooks.recover"] = "webhooks.recover"
    command_id: str
    merchant_id: str
    endpoint_id: str
    since: Timestamp | None = None
    event_id: str | None = None
    requested_at: Timestamp


WebhookCommand = Annotated[ReplayDeadLetters | RecoverDeliveries, Field(discriminator="type")]
