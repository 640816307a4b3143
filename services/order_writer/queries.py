"""The read side the order-writer publishes: the only way other services (the ingress)
read its orders and checkouts. Nothing here writes."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.cursor import AsyncCursor

from schemas.checkout import Checkout
from schemas.order import OrderRecord
from schemas.storage.orders import CHECKOUTS, ORDER_SPANS, ORDERS, CheckoutClaim, CheckoutDocument, OrderSpan
from services.domain.queries import Condition, OrderQuery, expand_status
from services.shared.mongo import Database, Document

_RECORD_ONLY = {"_id": 0, "record": 1}
_LISTED = {"_id": 0, "createdAt": 1, "amount": 1, "id": 1, "record": 1}
"""The order and the fields the process sorts a list of them by (``page_of``, ``stream``)."""
NARROW_LIMIT = 1000
"""Orders a narrow query pages in the process; past that it reads and counts in the database."""
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


def page_of(documents: list[Document], query: OrderQuery) -> list[Document]:
    """``query``'s page of ``documents``, in the order the database would sort them: by the
    sort field (a missing or null value first, ascending), then by id."""

    def key(document: Document) -> tuple[bool, Any, str]:
        value = document.get(query.sort_field)
        return value is not None, value if value is not None else 0, document["id"]

    ordered = sorted(documents, key=key, reverse=query.sort_direction == -1)
    start = (query.page - 1) * query.page_size
    return ordered[start : start + query.page_size]


def from_document(document: Document) -> OrderRecord:
    """The order of a stored document read with its ``record`` (see ``OrderDocument``)."""
    return OrderRecord.model_validate_json(document["record"])


class OrderQueries:
    def __init__(self, db: Database) -> None:
        self._orders = db[ORDERS]
        self._spans = db[ORDER_SPANS]

    async def get(self, order_id: str, merchant_id: str | None) -> OrderRecord | None:
        scope: Document = {"_id": order_id}
        if merchant_id is not None:
            scope["merchantId"] = merchant_id
        document = await self._orders.find_one(scope, _RECORD_ONLY)
        return from_document(document) if document else None

    async def find(self, query: OrderQuery, merchant_id: str | None) -> tuple[list[OrderRecord], int]:
        """One page of orders and the number of all that match. A query that names its orders
        by an indexed equality few orders share (``OrderQuery.is_narrow``) reads them all once
        and pages in the process; others read the page, and count unless a first page that is
        not full tells the total itself."""
        criteria = order_filter(query, merchant_id)
        if query.is_narrow and (found := await self._all_matching(criteria)) is not None:
            return [from_document(d) for d in page_of(found, query)], len(found)
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

    async def _all_matching(self, criteria: Document) -> list[Document] | None:
        """Every stored order ``criteria`` match, or None once more than ``NARROW_LIMIT`` do."""
        found: list[Document] = []
        async with self._orders.find(criteria, _LISTED, batch_size=NARROW_LIMIT + 1) as cursor:
            async for document in cursor:
                found.append(document)
                if len(found) > NARROW_LIMIT:
                    return None
        return found

    async def stream(
        self, query: OrderQuery, merchant_id: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[OrderRecord]:
        """Every order matching ``query`` created in ``[start, end)``, in ``createdAt`` order,
        read one day at a time (an equality on ``createdDay``, served from an index on MongoDB
        and FerretDB alike), so that what is held at once is a day's orders as stored texts,
        whatever the range."""
        criteria = order_filter(query, merchant_id)
        day = start.astimezone(UTC).date()
        while day <= end.astimezone(UTC).date():
            cursor = self._orders.find({**criteria, "createdDay": day.isoformat()}, _LISTED)
            found = [(d["createdAt"], d["id"], d["record"]) async for d in cursor if start <= d["createdAt"] < end]
            found.sort()
            for _, _, text in found:
                yield OrderRecord.model_validate_json(text)
            day += timedelta(days=1)

    async def earliest(self, query: OrderQuery, merchant_id: str | None) -> datetime | None:
        """No order matching ``query`` was created before this (None: there is no order).
        Read from ``ORDER_SPANS`` (one small document per merchant), not by sorting orders,
        which FerretDB v1 does only after reading every one of them."""
        scope = merchant_id or query.equal_to("merchantId")
        found = [d async for d in self._spans.find({} if scope is None else {"_id": scope})]
        if not found:
            return None
        first: datetime = min(OrderSpan.model_validate(d).first_created_at for d in found)
        after = query.created_after()
        return first if after is None else max(first, after)

    async def explain(self, query: OrderQuery, merchant_id: str | None) -> Document:
        """The database's plan for the page ``find`` reads, to check that an index serves it."""
        plan: Document = await self._page_cursor(query, order_filter(query, merchant_id)).explain()
        return plan

    def _page_cursor(self, query: OrderQuery, criteria: Document) -> AsyncCursor[Document]:
        direction = ASCENDING if query.sort_direction == 1 else DESCENDING
        return (
            self._orders.find(criteria, _RECORD_ONLY)
            .sort([(query.sort_field, query.sort_direction), ("id", direction)])
            .skip((query.page - 1) * query.page_size)
            .limit(query.page_size)
        )


class CheckoutQueries:
    def __init__(self, db: Database) -> None:
        self._checkouts = db[CHECKOUTS]

    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None:
        """The checkout and the order it was turned into, if any: its document and its
        claim (``CheckoutClaim``), in one read."""
        checkout, holder = None, None
        async for document in self._checkouts.find({"checkoutId": checkout_id}):
            if isinstance(document["_id"], dict):
                holder = CheckoutClaim.model_validate(document).order_id
            else:
                checkout = CheckoutDocument.model_validate(document).checkout
        return (checkout, holder) if checkout is not None else None
