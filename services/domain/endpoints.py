"""Merchants' webhook endpoints: which events each wants, which are on, which secrets sign,
and when a failing one is switched off. Plain functions, no I/O."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from schemas.api import EventTypeFilter
from schemas.events import OrderEvent
from schemas.order import OrderStatus, ReturnStatus
from schemas.storage.endpoints import EndpointSecret, WebhookEndpointDocument

MAX_ENDPOINTS_PER_MERCHANT = 20
EVENT_TYPES: tuple[EventTypeFilter, ...] = ("order.status.updated", "returns.status.updated")
PREVIOUS_SECRET_SIGNS_FOR = timedelta(hours=24)
STATUS_FILTERS = frozenset(
    {s.value for s in (*OrderStatus, *ReturnStatus)} | {s.value.split(".")[0] for s in (*OrderStatus, *ReturnStatus)}
)
"""Every status and parent status an endpoint may filter on."""


def unknown_statuses(statuses: Sequence[str]) -> list[str]:
    return [s for s in statuses if s not in STATUS_FILTERS]


def event_status(event: OrderEvent) -> str:
    """The status an endpoint's ``statuses`` match: the return's for returns events."""
    if event.type == "returns.status.updated" and event.refund is not None:
        return event.refund.status.value
    return event.order.status.value


def status_matches(status: str, filters: Sequence[str]) -> bool:
    """An empty filter matches every status; ``success`` matches ``success.delivered``."""
    return not filters or any(status == f or status.startswith(f + ".") for f in filters)


def wants(endpoint: WebhookEndpointDocument, event_type: str, status: str | None) -> bool:
    """Whether the endpoint's configuration asks for this event (ignoring whether it is on)."""
    return event_type in endpoint.event_types and status_matches(status or "", endpoint.statuses)


def is_enabled(endpoint: WebhookEndpointDocument, disabled_at: datetime | None) -> bool:
    """On: enabled by the merchant, and not disabled by the dispatcher since."""
    return endpoint.enabled and (disabled_at is None or disabled_at < endpoint.enabled_at)


def delivery_targets(event: OrderEvent, endpoints: Sequence[WebhookEndpointDocument]) -> dict[str, str | None]:
    """URL -> the endpoint it belongs to (None: an order URL) for one event. A URL that is
    both an endpoint and an order URL gets one delivery, as the endpoint's."""
    targets: dict[str, str | None] = dict.fromkeys(event.order.webhook_urls)
    status = event_status(event)
    for endpoint in endpoints:
        if endpoint.merchant_id == event.merchant_id and endpoint.enabled and wants(endpoint, event.type, status):
            targets[endpoint.url] = endpoint.id
    return targets


def signing_secrets(secrets: Sequence[EndpointSecret], now: datetime) -> list[str]:
    """The secrets that sign now: the newest, and a replaced one for its last 24 hours."""
    return [s.secret for s in secrets if s.expires_at is None or s.expires_at > now]


def rotated(secrets: Sequence[EndpointSecret], new_secret: str, now: datetime) -> list[EndpointSecret]:
    """The secrets after a rotation: the current one signs 24 hours more; expired ones go."""
    kept = [
        s.model_copy(update={"expires_at": s.expires_at or now + PREVIOUS_SECRET_SIGNS_FOR})
        for s in secrets
        if s.expires_at is None or s.expires_at > now
    ]
    return [*kept, EndpointSecret(secret=new_secret)]


def should_disable(
    failing_since: datetime | None, enabled_at: datetime, now: datetime, disable_after: timedelta
) -> bool:
    """Every attempt has failed for ``disable_after``, counted from the later of the first
    failure of the streak and the last time the merchant enabled the endpoint."""
    return failing_since is not None and now - max(failing_since, enabled_at) >= disable_after
