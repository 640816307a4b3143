"""What the dispatcher's use cases need from the world, as small interfaces: MongoDB and
aiohttp adapters in production, in-memory fakes in the unit tests (``tests/fakes.py``)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from schemas.endpoint_events import WebhookEndpointDisabled
from schemas.storage.endpoints import EndpointHealthDocument, WebhookEndpointDocument
from schemas.storage.webhooks import WebhookDelivery
from services.domain.webhooks import AttemptResult

if TYPE_CHECKING:
    from .store import Outcomes


class DeliveryQueue(Protocol):
    async def add(self, deliveries: list[WebhookDelivery]) -> None:
        """Queue deliveries (one already queued, by an event delivered twice, stays as it is)."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]: ...

    async def record_outcomes(self, outcomes: "Outcomes") -> None: ...


class SigningSecrets(Protocol):
    async def webhook_secrets(self, merchant_id: str) -> list[str]: ...


class Sender(Protocol):
    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult: ...


class EndpointDirectory(Protocol):
    """Merchants' webhook endpoints, as the ingress keeps them."""

    async def of_merchant(self, merchant_id: str) -> list[WebhookEndpointDocument]: ...

    async def get(self, endpoint_id: str) -> WebhookEndpointDocument | None: ...


class EndpointHealth(Protocol):
    """How each endpoint's attempts have gone, as the dispatchers record it."""

    async def get(self, endpoint_id: str) -> EndpointHealthDocument | None: ...

    async def failing(self, endpoint_id: str, at: datetime) -> datetime:
        """Note a failure at ``at``; the start of the streak (an earlier one stays)."""
        ...

    async def succeeded(self, endpoint_id: str) -> None: ...

    async def disable(self, endpoint_id: str, at: datetime, enabled_at: datetime) -> bool:
        """Disable it unless it is disabled since ``enabled_at``; False if it was."""
        ...


@dataclass
class Endpoints:
    directory: EndpointDirectory
    health: EndpointHealth
    announce: Callable[[WebhookEndpointDisabled], Awaitable[None]]
    """Publishes on ``webhook.endpoint.events``."""
