"""The order-writer's collections, which only it writes: orders (each with its returns,
applied commands and outbox in one document, so every change is one atomic write), its
view of checkouts, parked creates, the command log and its progress on ``checkout.events``."""

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from schemas.checkout import Checkout
from schemas.commands import OrderCommand, OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderRecord
from schemas.storage.orders import (
    CHECKOUT_PROGRESS,
    CHECKOUTS,
    DAY_TALLIES,
    DAY_TALLY_PARTS,
    ORDER_SPANS,
    ORDERS,
    PARKED_CREATES,
    PUBLISHED_CREATIONS,
    CheckoutClaim,
    CheckoutDocument,
    CheckoutPartitionProgress,
    CommandOutcome,
    OrderDocument,
    OrderSpan,
    ParkedCreate,
    claim_key,
)
from services.domain.creation import supersedes
from services.shared.mongo import Database, Document, Indexes, insert_new

from .claims import CommandClaims
from .ports import NewOrder
from .queries import CheckoutQueries

INDEXES: Indexes = {
    ORDERS: [
        [("merchantId", ASCENDING), ("createdAt", DESCENDING), ("id", DESCENDING)],
        [("merchantId", ASCENDING), ("userId", ASCENDING), ("createdAt", DESCENDING)],
        [("merchantId", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING)],
        [("merchantId", ASCENDING), ("idempotencyKey", ASCENDING)],
        [("merchantId", ASCENDING), ("amount", ASCENDING)],
        [("checkoutId", ASCENDING)],
        [("createdAt", DESCENDING), ("id", DESCENDING)],
        [("outboxPending", ASCENDING), ("outboxSince", ASCENDING)],
        [("merchantId", ASCENDING), ("createdDay", ASCENDING)],
        [("createdDay", ASCENDING)],
        [("hourKey", ASCENDING)],
    ],
    DAY_TALLIES: [[("merchantId", ASCENDING)], [("dayKey", ASCENDING)]],
    DAY_TALLY_PARTS: [[("dayKey", ASCENDING)], [("merchantPart", ASCENDING)]],
    ORDER_SPANS: [[("merchantId", ASCENDING)]],
    PARKED_CREATES: [[("checkoutId", ASCENDING)], [("deadline", ASCENDING)]],
    CHECKOUTS: [[("checkoutId", ASCENDING)]],
}


def first_created(records: Iterable[OrderRecord]) -> dict[str, datetime]:
    """Each merchant's earliest ``createdAt`` among ``records``."""
    firsts: dict[str, datetime] = {}
    for record in records:
        firsts[record.merchant_id] = min(record.created_at, firsts.get(record.merchant_id, record.created_at))
    return firsts


async def move_spans_back(
    spans: AsyncCollection[Document], firsts: dict[str, datetime], reach: dict[str, datetime]
) -> None:
    """Make each merchant's spans reach back to ``firsts[merchant]`` where ``reach`` (how
    far back they are known to reach, kept up to date here) does not: one insert of an
    ``OrderSpan`` each (one there already is kept)."""
    behind = [
        OrderSpan(merchant_id=m, first_created_at=at) for m, at in firsts.items() if m not in reach or at < reach[m]
    ]
    await insert_new(spans, [{"_id": span.key(), **span.model_dump()} for span in behind])
    reach |= {span.merchant_id: span.first_created_at for span in behind}


def unpublished_filter(older_than: datetime) -> Document:
    """Orders whose outbox has held events since before ``older_than``: found by an equality
    (``outboxPending``) that FerretDB v1 serves from an index, the few it finds then
    compared by time."""
    return {"outboxPending": True, "outboxSince": {"$lte": older_than}}


def order_document(record: OrderRecord, **state: object) -> Document:
    return {"_id": record.id, **OrderDocument.of(record, **state).model_dump(mode="python")}


class OrderStore:
    def __init__(self, db: Database) -> None:
        self._orders = db[ORDERS]
        self._spans = db[ORDER_SPANS]
        self._spans_reach: dict[str, datetime] = {}
        """Per merchant, a time its spans are known to reach back to: spans only reach
        further back, so a batch none of whose orders is earlier needs no new span."""

    async def get_with_state(self, order_id: str) -> tuple[OrderRecord, list[str], list[OrderEvent]] | None:
        """An order with the ids of the commands applied to it and its unpublished events."""
        document = await self._orders.find_one({"_id": order_id})
        if document is None:
            return None
        stored = OrderDocument.model_validate(document)
        return stored.order_record(), stored.applied_commands, stored.outbox

    async def insert_many(self, new_orders: Sequence[NewOrder]) -> list[bool]:
        """Store new orders, each with its first event in the outbox, with one bulk command;
        for each, whether it was stored (False: it existed). The stale-outbox sweep leaves
        them be: a creation event goes again with its command's redelivery (or its parked
        copy) unless it is marked published (``CreationMarks``). Each merchant's spans are
        moved back first where this process does not know them to reach far enough (one
        more command, for a merchant's first batch or an older order)."""
        if not new_orders:
            return []
        await move_spans_back(self._spans, first_created(record for record, _, _ in new_orders), self._spans_reach)
        return await insert_new(
            self._orders,
            [
                order_document(record, outbox=[event], applied_commands=[command_id])
                for record, event, command_id in new_orders
            ],
        )

    async def replace(
        self, previous_version: int, record: OrderRecord, event: OrderEvent, command_id: str, outbox_since: datetime
    ) -> bool:
        """Store a changed order if nobody changed it since ``previous_version`` (optimistic
        concurrency); its event joins the outbox in the same write."""
        stored = order_document(record, outbox_since=outbox_since)
        fields = {k: v for k, v in stored.items() if k not in ("_id", "outbox", "appliedCommands")}
        result = await self._orders.update_one(
            {"_id": record.id, "version": previous_version},
            {
                "$set": fields,
                "$push": {"outbox": event.model_dump_json(), "appliedCommands": command_id},
            },
        )
        return result.matched_count == 1

    async def clear_outbox(self, order_id: str, version: int) -> bool:
        """Forget the outbox once Kafka has its events, if the order is still at the version
        whose outbox was published; after a newer change its events stay, and are sent
        again with the next ones (same event ids: consumers dedupe). A plain conditional
        ``$set``, which MongoDB and FerretDB v1 treat alike (FerretDB v1 ignores ``$pull``
        with a condition)."""
        result = await self._orders.update_one(
            {"_id": order_id, "version": version},
            {"$set": {"outbox": []}, "$unset": {"outboxSince": "", "outboxPending": ""}},
        )
        return result.matched_count == 1

    async def with_unpublished_events(self, older_than: datetime, limit: int) -> list[str]:
        """Ids of orders whose outbox has held events since before ``older_than``."""
        cursor = self._orders.find(unpublished_filter(older_than), {"_id": 1}).limit(limit)
        return [d["_id"] async for d in cursor]


CONCURRENT_UPDATES = 8
"""Conditional updates of one batch in flight at once: FerretDB v1 deadlocks once as many
updates run at once as its pool has connections (docs/design.md)."""


class CheckoutStore(CheckoutQueries):
    """The writer's view of checkouts: the newest version of each, and the order it became."""

    async def apply_many(self, incoming: list[Checkout]) -> list[Checkout]:
        """Take a batch of checkouts (one per id): the new ones with one unordered insert,
        those already stored each by the conditional ``apply``. Returns the ones taken."""
        if not incoming:
            return []
        new = await insert_new(self._checkouts, [{"_id": c.id, **self._body(c)} for c in incoming])
        lanes = asyncio.Semaphore(CONCURRENT_UPDATES)

        async def update(checkout: Checkout) -> bool:
            async with lanes:
                return await self.apply(checkout)

        existing = [c for c, is_new in zip(incoming, new, strict=True) if not is_new]
        updated = await asyncio.gather(*(update(c) for c in existing))
        taken = [c for c, is_new in zip(incoming, new, strict=True) if is_new]
        return taken + [c for c, ok in zip(existing, updated, strict=True) if ok]

    @staticmethod
    def _body(checkout: Checkout) -> Document:
        return CheckoutDocument.of(checkout).model_dump(mode="python")

    async def apply(self, incoming: Checkout) -> bool:
        """Take an event's checkout if it supersedes the stored one (see ``supersedes``).
        Events of one checkout arrive in order on one partition, but the claim below may
        write the same document, so the update is conditional on what was read."""
        while True:
            found = await self.get(incoming.id)
            stored = found[0] if found else None
            if not supersedes(stored, incoming):
                return False
            body = self._body(incoming)
            if stored is None:
                try:
                    await self._checkouts.insert_one({"_id": incoming.id, **body})
                except DuplicateKeyError:
                    continue
                return True
            result = await self._checkouts.update_one({"_id": incoming.id, "version": stored.version}, {"$set": body})
            if result.matched_count:
                return True

    async def claim_many(self, claims: Sequence[tuple[str, str]]) -> list[str]:
        """Claim each (checkout, order) pair's checkout for that order unless another order
        has it, with one bulk insert (``CheckoutClaim``). Returns, for each pair, the order
        that holds the checkout: the pair's own when its claim was first, now or before.
        Only a claim that was not first (a redelivery, a second order for a checkout) reads
        its holder."""
        claimed = await insert_new(
            self._checkouts,
            [
                {
                    "_id": claim_key(checkout_id),
                    **CheckoutClaim(checkout_id=checkout_id, order_id=order_id).model_dump(),
                }
                for checkout_id, order_id in claims
            ],
        )
        return [
            order_id if first else await self._claimed_by(checkout_id)
            for (checkout_id, order_id), first in zip(claims, claimed, strict=True)
        ]

    async def _claimed_by(self, checkout_id: str) -> str:
        holder = await self.holder(checkout_id)
        if holder is None:  # pragma: no cover - claims are never deleted
            raise RuntimeError(f"the claim on checkout {checkout_id} is gone")
        return holder


class CreationMarks:
    """Which orders created in a batch had their creation event published: one bulk insert
    per batch, read only at an order's first change (``OrderWriter.apply``)."""

    def __init__(self, db: Database) -> None:
        self._marks = db[PUBLISHED_CREATIONS]

    async def mark(self, order_ids: Sequence[str]) -> None:
        await insert_new(self._marks, [{"_id": order_id} for order_id in order_ids])

    async def marked(self, order_id: str) -> bool:
        return await self._marks.find_one({"_id": order_id}) is not None


class ParkedCreates:
    """Create commands whose checkout is not known (or not paid) yet: kept until it arrives
    or the intake clock passes their deadline, so that waiting for one checkout never holds
    up other commands."""

    def __init__(self, db: Database) -> None:
        self._parked = db[PARKED_CREATES]

    async def park(self, command: OrderCreateCommand, deadline: datetime, traceparent: str | None) -> None:
        parked = ParkedCreate(
            checkout_id=command.checkout_id, deadline=deadline, command=command, traceparent=traceparent
        )
        with contextlib.suppress(DuplicateKeyError):  # parked before: keep the first deadline
            await self._parked.insert_one({"_id": command.order_id, **parked.model_dump(mode="python")})

    async def for_checkouts(self, checkout_ids: list[str]) -> list[OrderCreateCommand]:
        """The commands waiting for any of these checkouts. Few wait at any time, so one
        query of the whole (small) collection serves a batch."""
        if not checkout_ids:
            return []
        criteria = {"checkoutId": checkout_ids[0] if len(checkout_ids) == 1 else {"$in": checkout_ids}}
        return [ParkedCreate.model_validate(d).command async for d in self._parked.find(criteria)]

    async def due(self, clock: datetime, limit: int = 100) -> list[ParkedCreate]:
        """Parked commands whose deadline the intake clock has passed."""
        cursor = self._parked.find({"deadline": {"$lte": clock}}).limit(limit)
        return [ParkedCreate.model_validate(d) async for d in cursor]

    async def remove(self, order_id: str) -> None:
        await self._parked.delete_one({"_id": order_id})


class CommandLog(CommandClaims):
    """Every command's outcome. The writer takes a command (see ``CommandClaims``) before
    acting on it and records what became of it."""

    async def take_many(self, commands: Sequence[OrderCreateCommand | OrderCommand], at: datetime) -> list[bool]:
        """Claim commands for the writer with one bulk command; for each, False if the
        ingress abandoned it (a command taken before, a redelivery, is taken again)."""
        claimed = await self._claim_many([(c.command_id, c.order_id, c.type) for c in commands], "taken", at)
        return [
            new or await self._outcome(c.command_id) != "abandoned" for c, new in zip(commands, claimed, strict=True)
        ]

    async def record(self, command_id: str, outcome: CommandOutcome, detail: str, at: datetime) -> None:
        await self._log.update_one({"_id": command_id}, {"$set": {"outcome": outcome, "detail": detail, "at": at}})


class CheckoutProgress:
    """How far ``checkout.events`` has been read, per partition, across every writer."""

    def __init__(self, db: Database) -> None:
        self._progress = db[CHECKOUT_PROGRESS]

    async def advance(self, read_through: dict[int, datetime]) -> None:
        """Move partitions forward (never back: ``$max``), in one command."""
        if read_through:
            await self._progress.bulk_write(
                [
                    UpdateOne({"_id": partition}, {"$max": {"readThrough": at}}, upsert=True)
                    for partition, at in read_through.items()
                ],
                ordered=False,
            )

    async def read_through(self) -> dict[int, datetime]:
        return {
            d["_id"]: CheckoutPartitionProgress.model_validate(d).read_through async for d in self._progress.find({})
        }
