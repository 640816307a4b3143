"""The order-writer's documents: orders, its view of checkouts, parked creates, the command
log and how far it has read ``checkout.events``."""

from datetime import UTC, datetime
from typing import Any, Literal

from schemas.base import Timestamp, WireModel
from schemas.checkout import Checkout
from schemas.commands import OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderHeader, OrderRecord

ORDERS = "orders"
CHECKOUTS = "checkouts"
PARKED_CREATES = "parked_creates"
COMMAND_LOG = "command_log"
CHECKOUT_PROGRESS = "checkout_progress"
ORDER_SPANS = "order_spans"
PUBLISHED_CREATIONS = "published_creations"
"""``{_id: order id}`` of each order created in a batch whose events Kafka has: see
``OrderWriter._create_together``."""


class OrderDocument(OrderHeader):
    """An order as the writer stores it, in one document, so that every change, its dedupe
    mark and its event (the outbox) are one atomic write.

    The whole order (an ``OrderRecord``, returns included) is one JSON text, ``record``; beside
    it, at the top level, stand copies of the fields that queries filter, sort or condition on
    (its header, ``createdAt``, ``version``), written from the same record in the same write.
    FerretDB v1 decodes a stored document field by field: an order of forty-odd fields costs
    it about five times what the same order as one text does (docs/design.md, "How an order
    is stored"), and reads never look inside the record."""

    created_at: Timestamp
    created_day: str
    """``createdAt``'s UTC date (``2026-11-28``): reports and exports read a day at a time by
    equality, which FerretDB v1 serves from an index where it serves no range."""
    version: int
    record: str
    outbox: list[OrderEvent] = []
    outbox_since: Timestamp | None = None
    applied_commands: list[str] = []

    @classmethod
    def of(cls, record: OrderRecord, **state: Any) -> "OrderDocument":
        return cls(
            **record.model_dump(include=set(OrderHeader.model_fields)),
            created_at=record.created_at,
            created_day=record.created_at.astimezone(UTC).date().isoformat(),
            version=record.version,
            record=record.model_dump_json(),
            **state,
        )

    def order_record(self) -> OrderRecord:
        return OrderRecord.model_validate_json(self.record)


class OrderSpan(WireModel):
    """Under the merchant's id: none of its orders was created before ``first_created_at``.
    Moved back (``$min``) before a batch of orders is inserted, so that it is never late; an
    export starts from it."""

    first_created_at: Timestamp


class CheckoutDocument(WireModel):
    checkout_id: str
    """The checkout's id at the top level, which its claim shares: one equality read (which
    FerretDB v1 serves from an index) finds the checkout and the order it became."""
    checkout: Checkout
    version: int

    @classmethod
    def of(cls, checkout: Checkout) -> "CheckoutDocument":
        return cls(checkout_id=checkout.id, checkout=checkout, version=checkout.version)


class CheckoutClaim(WireModel):
    """Beside a checkout in its collection, once an order has it: inserted, never updated,
    under ``claim_key`` (a unique ``_id`` no checkout's can equal), so that the first
    order to claim a checkout wins, and a batch of claims is one bulk insert."""

    checkout_id: str
    order_id: str


def claim_key(checkout_id: str) -> dict[str, str]:
    return {"claim": checkout_id}


class ParkedCreate(WireModel):
    """A create command waiting for its checkout, until the intake clock passes its deadline."""

    checkout_id: str
    deadline: Timestamp
    command: OrderCreateCommand
    traceparent: str | None = None
    """The trace of the request that sent the command, which its order continues."""


CommandOutcome = Literal["taken", "applied", "refused", "abandoned"]


class CommandRecord(WireModel):
    order_id: str
    type: str
    outcome: CommandOutcome
    detail: str = ""
    at: datetime


class CheckoutPartitionProgress(WireModel):
    """Every event of this partition of ``checkout.events`` produced before ``read_through``
    has been taken into the checkout view."""

    read_through: Timestamp
