"""What the ingress's request handlers need, as small interfaces: the queries the writer
and the dispatcher publish, the merchant registry, its own idempotency keys, the command
claim and the Kafka publisher in production; in-memory fakes in the unit tests."""

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from schemas.api import WebhookAttemptView
from schemas.checkout import Checkout
from schemas.order import OrderRecord
from schemas.webhook_commands import DeadLetterSelector
from services.domain.queries import OrderQuery
from services.shared.merchant_store import Principal

from .idempotency_store import Reservation


class OrderReads(Protocol):
    async def get(self, order_id: str, merchant_id: str | None) -> OrderRecord | None: ...

    async def find(self, query: OrderQuery, merchant_id: str | None) -> tuple[list[OrderRecord], int]: ...


class CheckoutReads(Protocol):
    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None: ...


class DeliveryReads(Protocol):
    async def attempts(self, order_id: str, page: int, page_size: int) -> tuple[list[WebhookAttemptView], int]: ...

    async def count_dead_letters(self, selector: DeadLetterSelector) -> int: ...


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
