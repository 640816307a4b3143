"""``webhook.endpoint.events``: what happens to merchants' webhook endpoints, for the services
around (key = endpoint id). The webhook-dispatcher produces them."""

from typing import Literal

from schemas.base import Timestamp, WireModel


class WebhookEndpointDisabled(WireModel):
    """Every attempt to the endpoint failed for ``ORDERS_WEBHOOK_DISABLE_AFTER_HOURS``, so
    nothing more is sent to it until the merchant enables it again."""

    type: Literal["webhook.endpoint.disabled"] = "webhook.endpoint.disabled"
    endpoint_id: str
    merchant_id: str
    url: str
    occurred_at: Timestamp
