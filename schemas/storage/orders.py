"""The order-writer's documents: orders, its view of checkouts, parked creates, the command
log and how far it has read ``checkout.events``."""

from datetime import datetime
from typing import Any, Literal

from schemas.base import Timestamp, WireModel, day_of, hour_of
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
DAY_TALLIES = "day_tallies"
DAY_TALLY_PARTS = "day_tally_parts"
TALLY_GENERATIONS = "tally_generations"


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
    created_hour: str
    """``createdAt``'s UTC hour (``2026-11-28T06``): a list page reads the hours it needs by
    equality (``DayTallyDocument`` says which)."""
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
            created_day=day_of(record.created_at),
            created_hour=hour_of(record.created_at),
            version=record.version,
            record=record.model_dump_json(),
            **state,
        )

    def order_record(self) -> OrderRecord:
        return OrderRecord.model_validate_json(self.record)


class OrderSpan(WireModel):
    """One of a merchant's spans: the earliest of them tells that none of its orders was
    created before. One is inserted before a batch holding an order earlier than the writer
    knows the spans to reach, so that they are never late; an export starts from them.
    Inserted, never updated: FerretDB v1 can lose one of two concurrent ``$min`` updates
    (it writes back what it read), and a lost one would hide an order from exports."""

    merchant_id: str
    first_created_at: Timestamp

    def key(self) -> str:
        return f"{self.merchant_id}|{self.first_created_at.isoformat()}"


class DayTallyDocument(WireModel):
    """One version of the tally of a merchant's orders created on a day (``DayTally``): its
    counts by hour and status, which list pages read (``hours``, compact JSON), and the ids
    of the two ``DayTallyPart``s that hold its amounts and each order's row, kept apart so
    that most pages read neither.

    A version is never changed. The next one is inserted under the next ``seq`` (after its
    parts), then the older ones are deleted; readers take each day's highest ``seq``. The
    insert of a unique ``_id`` is the only write FerretDB v1 keeps atomic against a
    concurrent one: it updates a document by reading it and writing it back whole."""

    merchant_id: str
    day: str
    day_key: str
    seq: int
    hours: str
    amounts_id: str
    rows_id: str

    @staticmethod
    def id_of(day_key: str, seq: int) -> str:
        return f"{day_key}|{seq:09d}"


TallyPartKind = Literal["amounts", "rows"]


class DayTallyPart(WireModel):
    """A ``DayTallyDocument``'s amounts by hour, or its orders' rows (version and status),
    as JSON text. Inserted before the version that names it, under an id no other attempt
    uses."""

    merchant_id: str
    day_key: str
    part: TallyPartKind
    text: str


class TallyGeneration(WireModel):
    """Under a merchant's id: a value set anew (never reused) after each batch of changes to
    its day tallies has been written. A reader that has parsed the tallies under one value
    reads them again only once it differs. Lost updates (FerretDB v1) do no harm: whichever
    write wins, the value differs from any a reader saw before the change."""

    generation: str


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
