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
    checkout: Checkout
    version: int
    ordered_by: str | None = None
    """The order the checkout was turned into; set once, by the writer's claim."""


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
