"""Webhook deliveries and their attempts in MongoDB.

``webhook_deliveries`` is the work queue: every delivery not yet delivered, with its due
time and lease (so a retry due in hours survives every restart, and a delivery whose
process died is taken up by any dispatcher once its lease has run out), and the dead
letters. A delivered one leaves the queue. ``webhook_attempts`` is the history: every
attempt, append-only, which is what merchants read."""

import asyncio
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING, DeleteOne, UpdateOne
from pymongo.errors import BulkWriteError

from schemas.api import WebhookAttemptView
from schemas.base import utc_now
from schemas.deliveries import DeliveryState, WebhookDelivery

from .mongo import WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES, Database, Document

# FerretDB v1 holds a database connection for every update of one write until the whole
# write is done, and a write with more updates than its pool has connections never ends.
UPDATES_PER_WRITE = 8
CONCURRENT_WRITES = 8
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def _to_document(delivery: WebhookDelivery) -> Document:
    return {"_id": delivery.id, **delivery.model_dump(mode="python")}


def _from_document(document: Document) -> WebhookDelivery:
    return WebhookDelivery.model_validate({k: v for k, v in document.items() if k != "_id"})


class DeliveryStore:
    def __init__(self, db: Database) -> None:
        self._deliveries = db[WEBHOOK_DELIVERIES]
        self._attempts = db[WEBHOOK_ATTEMPTS]

    async def add(self, deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
        """Store new deliveries; returns those that were not stored before (an event
        delivered twice by Kafka fans out once)."""
        if not deliveries:
            return []
        try:
            await self._deliveries.insert_many([_to_document(d) for d in deliveries], ordered=False)
        except BulkWriteError as error:
            duplicates = {e["index"] for e in error.details.get("writeErrors", []) if e.get("code") == 11000}
            if len(duplicates) != len(error.details.get("writeErrors", [])):
                raise
            return [d for i, d in enumerate(deliveries) if i not in duplicates]
        return deliveries

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]:
        """Take up to ``limit`` deliveries that are due and not leased by a live worker."""
        due = {"state": DeliveryState.PENDING.value, "dueAt": {"$lte": now}, "leaseUntil": {"$lte": now}}
        claimed: list[WebhookDelivery] = []
        async for candidate in self._deliveries.find(due, {"_id": 1, "leaseUntil": 1}).limit(limit):
            document = await self._deliveries.find_one_and_update(
                {"_id": candidate["_id"], "state": DeliveryState.PENDING.value, "leaseUntil": candidate["leaseUntil"]},
                {"$set": {"leaseUntil": lease_until}},
                return_document=True,
            )
            if document is not None:
                claimed.append(_from_document(document))
        return claimed

    async def record_outcomes(
        self, attempts: list[Document], delivered: list[str], updates: list[tuple[str, dict[str, Any]]]
    ) -> None:
        """Write a batch of finished attempts: append them to the history, take delivered
        deliveries out of the queue, and reschedule (or dead-letter) the others. Each queue
        write names one ``_id``, which an index serves on MongoDB and FerretDB alike (FerretDB
        reads the whole queue for an ``$in``)."""
        if attempts:
            await self._attempts.insert_many(attempts, ordered=False)
        if delivered:
            # In a few writes at once: FerretDB commits each delete on its own, and concurrent
            # commits share their flushes to disk.
            size = -(-len(delivered) // CONCURRENT_WRITES)
            await asyncio.gather(
                *(
                    self._deliveries.bulk_write([DeleteOne({"_id": d}) for d in delivered[i : i + size]], ordered=False)
                    for i in range(0, len(delivered), size)
                )
            )
        for start in range(0, len(updates), UPDATES_PER_WRITE):
            chunk = updates[start : start + UPDATES_PER_WRITE]
            await self._deliveries.bulk_write([UpdateOne({"_id": i}, {"$set": u}) for i, u in chunk], ordered=False)

    async def attempts(self, order_id: str, page: int, page_size: int) -> tuple[list[WebhookAttemptView], int]:
        cursor = (
            self._attempts.find({"orderId": order_id})
            .sort([("attemptedAt", DESCENDING), ("attempt", DESCENDING)])
            .skip((page - 1) * page_size)
            .limit(page_size)
        )
        views = [WebhookAttemptView.model_validate(d) async for d in cursor]
        return views, await self._attempts.count_documents({"orderId": order_id})

    async def dead_letters(self, limit: int = 100) -> list[WebhookDelivery]:
        cursor = self._deliveries.find({"state": DeliveryState.DEAD.value}).sort("createdAt", DESCENDING).limit(limit)
        return [_from_document(d) async for d in cursor]

    async def replay(
        self,
        *,
        delivery_id: str | None = None,
        order_id: str | None = None,
        url: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """Give dead-lettered deliveries a new run of the schedule, starting now."""
        criteria: Document = {"state": DeliveryState.DEAD.value}
        if delivery_id is not None:
            criteria["_id"] = delivery_id
        if order_id is not None:
            criteria["orderId"] = order_id
        if url is not None:
            criteria["url"] = url
        if since is not None:
            criteria["createdAt"] = {"$gte": since}
        result = await self._deliveries.update_many(
            criteria,
            {"$set": {"state": DeliveryState.PENDING.value, "attempts": 0, "dueAt": utc_now(), "leaseUntil": NEVER}},
        )
        return result.modified_count
