"""The order-writer's documents: orders, its view of checkouts, parked creates, the command
log and how far it has read ``checkout.events``."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, computed_field, model_validator

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


def _event_of(stored: object) -> object:
    return OrderEvent.model_validate_json(stored) if isinstance(stored, str) else stored


def _event_text(event: OrderEvent) -> str:
    return event.model_dump_json()


StoredEvent = Annotated[OrderEvent, BeforeValidator(_event_of), PlainSerializer(_event_text, return_type=str)]
"""An event in a stored outbox: JSON text in the document, an ``OrderEvent`` in Python."""


def _absent(value: object) -> bool:
    return value is None


def hour_key(merchant_id: str, moment: datetime) -> str:
    """A merchant's UTC hour of ``moment`` as its orders store it (``m-1|2026-11-28T06``)."""
    return f"{merchant_id}|{hour_of(moment)}"


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
    hour_key: str
    """The merchant and ``createdAt``'s UTC hour (``hour_key``): a list page reads the hours
    it needs by this one equality (``DayTallyDocument`` says which). One field, not two: on
    FerretDB v1 an equality on the merchant and on the hour is served by one field's index
    and filtered by the other, which read every merchant's orders of the hour."""
    version: int
    record: str
    outbox: list[StoredEvent] = []
    """Each event as its JSON text (an event holds the whole order, forty-odd fields, and
    FerretDB v1 pays for every field of every document it writes or reads)."""
    outbox_since: Timestamp | None = Field(default=None, exclude_if=_absent)
    """Since when the outbox has held events that the stale-outbox sweep publishes should
    nobody clear them in time; absent otherwise."""
    outbox_pending: Literal[True] | None = Field(default=None, exclude_if=_absent)
    """Present exactly while ``outbox_since`` is (set from it). The sweep finds these orders
    by this equality, which FerretDB v1 serves from an index; it serves no range, and a sweep
    by ``outboxSince`` alone read every order, every 5 s (150 s at a million orders)."""
    applied_commands: list[str] = []

    @model_validator(mode="after")
    def _pending_while_since(self) -> "OrderDocument":
        self.outbox_pending = True if self.outbox_since is not None else None
        return self

    @classmethod
    def of(cls, record: OrderRecord, **state: Any) -> "OrderDocument":
        return cls(
            **record.model_dump(include=set(OrderHeader.model_fields)),
            created_at=record.created_at,
            created_day=day_of(record.created_at),
            hour_key=hour_key(record.merchant_id, record.created_at),
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
    of the ``DayTallyPart``s that hold its amounts and each order's row, kept apart so that
    most pages read neither.

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
    rows_ids: str
    """The ids of the ``DayTallyPart``s that hold the orders' rows, space-separated: every row
    as some version had them, then the rows each later version changed, oldest first. A
    batch writes the rows it changed, not the day's (``ROWS_CHAIN`` bounds the list)."""

    @staticmethod
    def id_of(day_key: str, seq: int) -> str:
        return f"{day_key}|{seq:09d}"

    def rows_parts(self) -> list[str]:
        return self.rows_ids.split()


TallyPartKind = Literal["amounts", "rows"]


class DayTallyPart(WireModel):
    """A ``DayTallyDocument``'s amounts by hour, or its orders' rows (version and status),
    as JSON text. Inserted before the version that names it, under an id no other attempt
    uses."""

    merchant_id: str
    day_key: str
    part: TallyPartKind
    text: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def merchant_part(self) -> str:
        """The merchant and the kind in one field: readers find a merchant's amounts parts by
        this one equality. As two (``merchantId`` and ``part``), PostgreSQL served the
        merchant's index and read the rows parts too, megabytes, only to drop them."""
        return merchant_part(self.merchant_id, self.part)


def merchant_part(merchant_id: str, part: TallyPartKind) -> str:
    return f"{merchant_id}|{part}"


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
