"""What the ingress's request handlers need, as small interfaces: the queries the writer
and the dispatcher publish, the merchant registry, its own idempotency keys, the command
claim and the Kafka publisher in production; in-memory fakes in the unit tests."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from schemas.api import EndpointAttemptOutcome, EndpointAttemptView, WebhookAttemptView
from schemas.checkout import Checkout
from schemas.order import OrderRecord
from schemas.storage.endpoints import WebhookEndpointDocument
from schemas.webhook_commands import DeadLetterSelector, RecoverDeliveries
from services.domain.queries import OrderQuery
from services.shared.merchant_store import Principal

from .idempotency_store import Reservation


class OrderReads(Protocol):
    async def get(self, order_id: str, merchant_id: str | None) -> OrderRecord | None: ...

    async def find(self, query: OrderQuery, merchant_id: str | None) -> tuple[list[OrderRecord], int]: ...

    def stream(
        self, query: OrderQuery, merchant_id: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[OrderRecord]: ...

    async def earliest(self, query: OrderQuery, merchant_id: str | None) -> datetime | None: ...


class CheckoutReads(Protocol):
    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None: ...


class DeliveryReads(Protocol):
    async def attempts(self, order_id: str, page: int, page_size: int) -> tuple[list[WebhookAttemptView], int]: ...

    async def count_dead_letters(self, selector: DeadLetterSelector) -> int: ...

    async def count_recoverable(self, command: RecoverDeliveries) -> int: ...

    async def endpoint_attempts(
        self, endpoint_id: str, outcome: EndpointAttemptOutcome | None, page: int, page_size: int
    ) -> tuple[list[EndpointAttemptView], int]: ...


class EndpointRegistry(Protocol):
    """Merchants' webhook endpoints: the ingress's own collection."""

    async def create(self, merchant_id: str, fields: dict[str, Any], now: datetime) -> WebhookEndpointDocument: ...

    async def of_merchant(self, merchant_id: str) -> list[WebhookEndpointDocument]: ...

    async def get(self, endpoint_id: str) -> WebhookEndpointDocument | None: ...

    async def update(self, endpoint: WebhookEndpointDocument, changes: dict[str, Any]) -> WebhookEndpointDocument: ...

    async def delete(self, endpoint_id: str, merchant_id: str) -> bool: ...

    async def rotate_secret(self, endpoint: WebhookEndpointDocument, now: datetime) -> str: ...


class EndpointHealthReads(Protocol):
    """What the dispatcher publishes of endpoints' health."""

    async def disabled_at(self, endpoint_id: str) -> datetime | None: ...


class KeyRegistry(Protocol):
    async def principal(self, api_key: str) -> Principal | None: ...


class IdempotencyKeys(Protocol):
    async def get(self, record_id: str) -> Reservation | None: ...

    async def reserve(self, record_id: str, order_id: str, fingerprint: str) -> Reservation: ...


class CommandAbandonment(Protocol):
    async def abandon(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool: ...


class Publisher(Protocol):
    @property
    def connected(self) -> bool: ...

    async def send(self, message: BaseModel, topic: str, key: str) -> None: ...
