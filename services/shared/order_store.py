"""Orders in MongoDB: one document per order, its returns and its unpublished events
(the outbox) inside it, so every change is a single atomic document write."""

import asyncio
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.errors import DuplicateKeyError

from schemas.events import OrderEvent
from schemas.order import OrderRecord
from services.domain.queries import Condition, OrderQuery, expand_status

from .mongo import ORDERS, Database, Document

_INTERNAL_FIELDS = {"_id": 0, "outbox": 0, "appliedCommands": 0, "outboxSince": 0}
_STORED_AS = {"id": "_id"}
"""An order's id is its ``_id`` (the primary key, always indexed)."""
_OPERATORS = {
    "eq": "$eq",
    "ne": "$ne",
    "in": "$in",
    "nin": "$nin",
    "gt": "$gt",
    "gte": "$gte",
    "lt": "$lt",
    "lte": "$lte",
}


def order_filter(query: OrderQuery, merchant_id: str | None) -> Document:
    """The MongoDB filter of a parsed query. Field names and operators come only from the
    parser's whitelist; values are typed scalars, so nothing a client sent becomes an
    operator. ``merchant_id`` scopes a merchant's key to its own orders."""
    result: Document = {} if merchant_id is None else {"merchantId": merchant_id}
    for condition in query.conditions:
        clause = _clause(condition)
        field = _STORED_AS.get(condition.field, condition.field)
        if field in result:
            result = {"$and": [result, {field: clause}]}
        else:
            result[field] = clause
    return result


def _clause(condition: Condition) -> Document:
    values: list[Any] = list(condition.values)
    operator = condition.operator
    if condition.field == "status":
        values = [child for value in values for child in expand_status(str(value))]
        if operator == "eq" and len(values) > 1:
            operator = "in"
        elif operator == "ne" and len(values) > 1:
            operator = "nin"
    if operator in ("in", "nin"):
        return {_OPERATORS[operator]: values}
    return {_OPERATORS[operator]: values[0]}


def to_document(record: OrderRecord) -> Document:
    return {"_id": record.id, **record.model_dump(mode="python")}


def from_document(document: Document) -> OrderRecord:
    return OrderRecord.model_validate({k: v for k, v in document.items() if k not in _INTERNAL_FIELDS})


def event_document(event: OrderEvent) -> Document:
    return event.model_dump(mode="python")


class OrderStore:
    def __init__(self, db: Database) -> None:
        self._orders = db[ORDERS]

    async def get(self, order_id: str, merchant_id: str | None) -> OrderRecord | None:
        scope: Document = {"_id": order_id}
        if merchant_id is not None:
            scope["merchantId"] = merchant_id
        document = await self._orders.find_one(scope, _INTERNAL_FIELDS)
        return from_document(document) if document else None

    async def find(self, query: OrderQuery, merchant_id: str | None) -> tuple[list[OrderRecord], int]:
        """One page of orders and the number of all that match. A page that is not full
        tells the total itself, which spares the database a second scan."""
        criteria = order_filter(query, merchant_id)
        cursor = self._page_cursor(query, criteria)

        async def page() -> list[OrderRecord]:
            return [from_document(d) async for d in cursor]

        if query.page == 1:
            records = await page()
            if len(records) < query.page_size:
                return records, len(records)
            return records, await self._orders.count_documents(criteria)
        records, total = await asyncio.gather(page(), self._orders.count_documents(criteria))
        return records, total

    async def explain(self, query: OrderQuery, merchant_id: str | None) -> Document:
        """The database's plan for the page ``find`` reads, to check that an index serves it."""
        plan: Document = await self._page_cursor(query, order_filter(query, merchant_id)).explain()
        return plan

    def _page_cursor(self, query: OrderQuery, criteria: Document) -> AsyncCursor[Document]:
        direction = ASCENDING if query.sort_direction == 1 else DESCENDING
        return (
            self._orders.find(criteria, _INTERNAL_FIELDS)
            .sort([(query.sort_field, query.sort_direction), ("id", direction)])
            .skip((query.page - 1) * query.page_size)
            .limit(query.page_size)
        )

    async def get_with_state(self, order_id: str) -> tuple[OrderRecord, list[str], list[OrderEvent]] | None:
        """An order with the ids of the commands applied to it and its unpublished events."""
        document = await self._orders.find_one({"_id": order_id})
        if document is None:
            return None
        outbox = [OrderEvent.model_validate(e) for e in document.get("outbox", [])]
        return from_document(document), list(document.get("appliedCommands", [])), outbox

    async def insert(self, record: OrderRecord, event: OrderEvent, command_id: str) -> bool:
        """Store a new order with its first event in the outbox; False if it exists."""
        document = to_document(record) | {
            "outbox": [event_document(event)],
            "outboxSince": event.occurred_at,
            "appliedCommands": [command_id],
        }
        try:
            await self._orders.insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def replace(
        self, previous_version: int, record: OrderRecord, event: OrderEvent, command_id: str, outbox_since: datetime
    ) -> bool:
        """Store a changed order if nobody changed it since ``previous_version`` (optimistic
        concurrency); its event joins the outbox in the same write."""
        result = await self._orders.update_one(
            {"_id": record.id, "version": previous_version},
            {
                "$set": {k: v for k, v in to_document(record).items() if k != "_id"} | {"outboxSince": outbox_since},
                "$push": {"outbox": event_document(event), "appliedCommands": command_id},
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
            {"_id": order_id, "version": version}, {"$set": {"outbox": [], "outboxSince": None}}
        )
        return result.matched_count == 1

    async def with_unpublished_events(self, older_than: datetime, limit: int) -> list[str]:
        """Ids of orders whose outbox has held events since before ``older_than``."""
        cursor = self._orders.find({"outboxSince": {"$lte": older_than}}, {"_id": 1}).limit(limit)
        return [d["_id"] async for d in cursor]
