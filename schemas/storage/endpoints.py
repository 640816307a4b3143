"""Webhook endpoints: their configuration, which the ingress writes (merchants change it
through the API), and their health, which the webhook-dispatcher writes (it sees every
attempt)."""

from schemas.api import EventTypeFilter
from schemas.base import Timestamp, WireModel

WEBHOOK_ENDPOINTS = "webhook_endpoints"
WEBHOOK_ENDPOINT_HEALTH = "webhook_endpoint_health"


class EndpointSecret(WireModel):
    secret: str
    expires_at: Timestamp | None = None
    """Set when a newer secret replaces it: it keeps signing until then."""


class WebhookEndpointDocument(WireModel):
    id: str
    merchant_id: str
    url: str
    event_types: list[EventTypeFilter]
    statuses: list[str]
    description: str | None = None
    rate_limit_per_second: int | None = None
    enabled: bool = True
    enabled_at: Timestamp
    """When the merchant last enabled it (or created it): a failing streak counts from here."""
    created_at: Timestamp
    secrets: list[EndpointSecret]


class EndpointHealthDocument(WireModel):
    endpoint_id: str
    failing_since: Timestamp | None = None
    """The first failed attempt of the current streak of failures (None: the last succeeded)."""
    disabled_at: Timestamp | None = None
    """When the dispatcher disabled it for failing too long."""
