"""The webhook-dispatcher's collections, which only it writes.

``webhook_deliveries`` is the work queue: every delivery not yet delivered, with its due
time and lease (so a retry due in hours survives every restart, and a delivery whose
process died is taken up by any dispatcher once its lease has run out), and the dead
letters. A delivered one leaves the queue. ``webhook_attempts`` is the history: every
attempt, append-only, which is what merchants read."""

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne

from schemas.base import utc_now
from schemas.storage.endpoints import WEBHOOK_ENDPOINT_HEALTH
from schemas.storage.webhooks import (
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
)
from schemas.webhook_commands import DeadLetterSelector, RecoverDeliveries
from services.shared.mongo import Database, Document, Indexes, insert_new
from services.shared.retry import MONGO_UNAVAILABLE, until_available

from .metrics import DEAD_LETTERS, DELIVERIES_WAITING
from .queries import EndpointHealthQueries, dead_letter_filter, recoverable_filters

INDEXES: Indexes = {
    WEBHOOK_DELIVERIES: [
        [("state", ASCENDING), ("dueAt", ASCENDING)],
        [("orderId", ASCENDING), ("createdAt", DESCENDING)],
        [("batchId", ASCENDING)],
        [("endpointId", ASCENDING), ("state", ASCENDING)],
    ],
    WEBHOOK_ATTEMPTS: [
        [("orderId", ASCENDING), ("attemptedAt", DESCENDING)],
        [("endpointId", ASCENDING), ("attemptedAt", DESCENDING)],
    ],
    WEBHOOK_ENDPOINT_HEALTH: [],
}

# FerretDB v1 holds a database connection for every update of one write until the whole
# write is done, and a write with more updates than its pool has connections never ends.
UPDATES_PER_WRITE = 8
CONCURRENT_WRITES = 8  # queue writes of different batches at once
K = TypeVar("K")
# A delete or postponement by batch makes FerretDB read the batch's entries: small batches.
DELIVERIES_PER_BATCH = 100
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Outcomes:
    """What finished attempts change, gathered to be written together."""

    attempts: list[WebhookAttempt] = field(default_factory=list)
    """Entries of the history."""
    delivered: list[tuple[str, str]] = field(default_factory=list)
    """(batch id, delivery id) of deliveries that leave the queue."""
    postponed: list[tuple[str, str, datetime]] = field(default_factory=list)
    """(batch id, delivery id, due at) of deliveries not attempted (an open circuit)."""
    rescheduled: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(delivery id, fields to set) of failed attempts: the next try, or the dead letter."""
    dropped: list[tuple[str, str]] = field(default_factory=list)
    """(batch id, delivery id) of deliveries that leave the queue unattempted: their endpoint
    was deleted or disabled, or no longer wants their event."""
    queued: list[WebhookDelivery] = field(default_factory=list)
    """Deliveries attempted straight from their events that enter the queue: failed ones with
    their next try (or dead or aborted), postponed ones."""
    held: int = 0
    """How many of these outcomes hold room among the unwritten ones."""

    def __bool__(self) -> bool:
        return any((self.attempts, self.delivered, self.postponed, self.rescheduled, self.dropped, self.queued))


def batch_ids() -> Iterator[str]:
    """The batch ids of deliveries taken up together, in order: a new one every
    ``DELIVERIES_PER_BATCH`` deliveries."""
    while True:
        batch_id = str(uuid.uuid4())
        for _ in range(DELIVERIES_PER_BATCH):
            yield batch_id


async def _in_lanes(write: Callable[[K, list[str]], Awaitable[None]], groups: list[tuple[K, list[str]]]) -> None:
    """``write`` each group, ``CONCURRENT_WRITES`` at a time."""

    async def lane(part: list[tuple[K, list[str]]]) -> None:
        for key, ids in part:
            await write(key, ids)

    await asyncio.gather(*(lane(groups[i::CONCURRENT_WRITES]) for i in range(min(len(groups), CONCURRENT_WRITES))))


def _to_document(delivery: WebhookDelivery) -> Document:
    return {"_id": delivery.id, **delivery.model_dump(mode="python")}


def _attempt_document(attempt: WebhookAttempt) -> Document:
    """An attempt's entry, named by its delivery, number and time: written twice, it is one."""
    key = f"{attempt.delivery_id}/{attempt.attempt}/{attempt.attempted_at.isoformat()}"
    return {"_id": key, **attempt.model_dump(mode="python")}


def _from_document(document: Document) -> WebhookDelivery:
    return WebhookDelivery.model_validate({k: v for k, v in document.items() if k != "_id"})


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self._deliveries = db[WEBHOOK_DELIVERIES]
        self._attempts = db[WEBHOOK_ATTEMPTS]

    async def add(self, deliveries: list[WebhookDelivery]) -> None:
        """Queue deliveries; one queued before keeps its document. Waits while MongoDB is out
        of reach: the batch of events whose attempts were made must not be handled again (and
        its webhooks sent again) only because its write failed."""
        documents = [_to_document(d) for d in deliveries]
        await until_available("MongoDB", lambda: insert_new(self._deliveries, documents), MONGO_UNAVAILABLE)

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]:
        """Take up to ``limit`` deliveries that are due and not leased by a live worker, as
        new batches."""
        batches = batch_ids()
        due = {"state": DeliveryState.PENDING.value, "dueAt": {"$lte": now}, "leaseUntil": {"$lte": now}}
        claimed: list[WebhookDelivery] = []
        async for candidate in self._deliveries.find(due, {"_id": 1, "leaseUntil": 1}).limit(limit):
            document = await self._deliveries.find_one_and_update(
                {"_id": candidate["_id"], "state": DeliveryState.PENDING.value, "leaseUntil": candidate["leaseUntil"]},
                {"$set": {"leaseUntil": lease_until, "batchId": next(batches)}},
                return_document=True,
            )
            if document is not None:
                claimed.append(_from_document(document))
        return claimed

    async def record_outcomes(self, outcomes: "Outcomes") -> None:
        """``_write_outcomes``, waiting while MongoDB is out of reach (as ``add`` does)."""
        await until_available("MongoDB", lambda: self._write_outcomes(outcomes), MONGO_UNAVAILABLE)

    async def _write_outcomes(self, outcomes: "Outcomes") -> None:
        """Write a batch of finished attempts: append them to the history, take delivered
        deliveries out of the queue, postpone and reschedule (or dead-letter) the others.
        FerretDB commits every statement of a write on its own and reads the whole queue for
        an ``_id $in``, so delivered and postponed ones go with one statement per batch,
        narrowed by ``batchId`` from an index; reschedules name one ``_id`` each. Written
        again after a failure, it changes nothing twice: attempts and queued deliveries have
        ids of their own, and what was inserted before is left as it is."""
        await insert_new(self._attempts, [_attempt_document(a) for a in outcomes.attempts])
        await insert_new(self._deliveries, [_to_document(d) for d in outcomes.queued])
        deletes: dict[str, list[str]] = defaultdict(list)
        for batch_id, delivery_id in outcomes.delivered + outcomes.dropped:
            deletes[batch_id].append(delivery_id)
        postpones: dict[tuple[str, datetime], list[str]] = defaultdict(list)
        for batch_id, delivery_id, due_at in outcomes.postponed:
            postpones[batch_id, due_at].append(delivery_id)

        async def delete(batch_id: str, ids: list[str]) -> None:
            await self._deliveries.delete_many({"batchId": batch_id, "_id": {"$in": ids}})

        async def postpone(key: tuple[str, datetime], ids: list[str]) -> None:
            batch_id, due_at = key
            await self._deliveries.update_many(
                {"batchId": batch_id, "_id": {"$in": ids}}, {"$set": {"dueAt": due_at, "leaseUntil": NEVER}}
            )

        await _in_lanes(delete, list(deletes.items()))
        await _in_lanes(postpone, list(postpones.items()))
        for start in range(0, len(outcomes.rescheduled), UPDATES_PER_WRITE):
            chunk = outcomes.rescheduled[start : start + UPDATES_PER_WRITE]
            await self._deliveries.bulk_write([UpdateOne({"_id": i}, {"$set": u}) for i, u in chunk], ordered=False)

    async def replay(self, selector: DeadLetterSelector) -> int:
        """Give the dead letters ``selector`` names a new run of the schedule, starting now."""
        result = await self._deliveries.update_many(
            dead_letter_filter(selector),
            {"$set": {"state": DeliveryState.PENDING.value, "attempts": 0, "dueAt": utc_now(), "leaseUntil": NEVER}},
        )
        return result.modified_count

    async def export_gauges(self) -> None:
        """Set the queue's gauges: deliveries due now, scheduled later, and dead letters."""
        now = utc_now()
        pending = DeliveryState.PENDING.value
        due = await self._deliveries.count_documents({"state": pending, "dueAt": {"$lte": now}})
        scheduled = await self._deliveries.count_documents({"state": pending, "dueAt": {"$gt": now}})
        DELIVERIES_WAITING.labels("due").set(due)
        DELIVERIES_WAITING.labels("scheduled").set(scheduled)
        DEAD_LETTERS.set(await self._deliveries.count_documents({"state": DeliveryState.DEAD.value}))

    async def recover(self, command: RecoverDeliveries) -> int:
        """Send again, once, what ``command`` names: a dead letter gets one more attempt (its
        schedule is spent, so a failure makes it dead again); a delivery waiting for a retry
        is due now."""
        now = utc_now()
        filters = recoverable_filters(command)
        dead = await self._deliveries.update_many(
            filters["dead"], {"$set": {"state": DeliveryState.PENDING.value, "dueAt": now, "leaseUntil": NEVER}}
        )
        retrying = await self._deliveries.update_many(filters["retrying"], {"$set": {"dueAt": now}})
        return dead.modified_count + retrying.modified_count


class EndpointHealthStore(EndpointHealthQueries):
    """Each endpoint's failing streak and whether the dispatcher disabled it: written when a
    streak starts or ends, not at every attempt."""

    async def failing(self, endpoint_id: str, at: datetime) -> datetime:
        document = await self._health.find_one_and_update(
            {"_id": endpoint_id},
            {"$min": {"failingSince": at}, "$setOnInsert": {"endpointId": endpoint_id}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert document is not None  # an upsert returning the document after it
        failing_since: datetime = document["failingSince"]
        return failing_since

    async def succeeded(self, endpoint_id: str) -> None:
        await self._health.update_one({"_id": endpoint_id}, {"$set": {"failingSince": None}})

    async def disable(self, endpoint_id: str, at: datetime, enabled_at: datetime) -> bool:
        result = await self._health.update_one(
            {"_id": endpoint_id, "$or": [{"disabledAt": None}, {"disabledAt": {"$lt": enabled_at}}]},
            {"$set": {"disabledAt": at}},
        )
        return result.modified_count == 1
