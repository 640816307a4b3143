"""What the dispatcher's use cases need from the world, as small interfaces: MongoDB and
aiohttp adapters in production, in-memory fakes in the unit tests (``tests/fakes.py``)."""

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from schemas.storage.webhooks import WebhookDelivery
from services.domain.webhooks import AttemptResult

if TYPE_CHECKING:
    from .store import Outcomes


class DeliveryQueue(Protocol):
    async def add(self, deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]: ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]: ...

    async def record_outcomes(self, outcomes: "Outcomes") -> None: ...


class SigningSecrets(Protocol):
    async def webhook_secrets(self, merchant_id: str) -> list[str]: ...


class Sender(Protocol):
    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult: ...
