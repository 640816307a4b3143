"""The order-writer's documents: orders, its view of checkouts, parked creates, the command
log and how far it has read ``checkout.events``."""

from datetime import datetime
from typing import Literal

from schemas.base import Timestamp, WireModel
from schemas.checkout import Checkout
from schemas.commands import OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderRecord

ORDERS = "orders"
CHECKOUTS = "checkouts"
PARKED_CREATES = "parked_creates"
COMMAND_LOG = "command_log"
CHECKOUT_PROGRESS = "checkout_progress"
PUBLISHED_CREATIONS = "published_creations"
"""``{_id: order id}`` of each order created in a batch whose events Kafka has: see
``OrderWriter._create_together``."""


class OrderDocument(OrderRecord):
    """An order with the commands applied to it and its unpublished events (the outbox),
    so that a change, its dedupe mark and its event are one atomic document write."""

    outbox: list[OrderEvent] = []
    outbox_since: Timestamp | None = None
    applied_commands: list[str] = []
    created_day: str = ""
    """``createdAt``'s UTC date (``2026-11-28``): reports and exports read a day at a time by
    equality, which FerretDB v1 serves from an index where it serves no range."""


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
