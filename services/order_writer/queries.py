"""The read side the order-writer publishes: the only way other services (the ingress)
read its orders and checkouts. Nothing here writes."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from cachetools import LRUCache
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.cursor import AsyncCursor

from schemas.checkout import Checkout
from schemas.order import OrderRecord
from schemas.storage.orders import (
    CHECKOUTS,
    DAY_TALLIES,
    DAY_TALLY_PARTS,
    ORDER_SPANS,
    ORDERS,
    TALLY_GENERATIONS,
    CheckoutClaim,
    CheckoutDocument,
    OrderSpan,
    TallyGeneration,
    hour_key,
    merchant_part,
)
from services.domain.listing import TalliedQuery, hours_of, overlapping, slots_for
from services.domain.queries import Condition, OrderQuery, expand_status
from services.domain.tallies import Slot, hour_start
from services.shared.mongo import Database, Document

_RECORD_ONLY = {"_id": 0, "record": 1}
_LISTED = {"_id": 0, "createdAt": 1, "amount": 1, "id": 1, "status": 1, "record": 1}
"""The order and the fields the process sorts (``page_of``, ``stream``) or filters
(``TalliedQuery.matches``) a list of them by."""
_HOURS_ONLY = {"_id": 0, "day": 1, "seq": 1, "hours": 1, "amountsId": 1}
CACHED_MERCHANTS = 5_000
"""Merchants whose tallied days a reader keeps, with the generation they were read under."""
PARSED_DAYS = 20_000
"""Parsed day tallies a reader keeps (a merchant's year is 365): a few kilobytes each."""
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


def page_of(documents: list[Document], query: OrderQuery, skipped: int = 0) -> list[Document]:
    """``query``'s page of ``documents``, in the order the database would sort them: by the
    sort field (a missing or null value first, ascending), then by id. ``skipped``: how many
    matches, before all of ``documents``, are not among them."""

    def key(document: Document) -> tuple[bool, Any, str]:
        value = document.get(query.sort_field)
        return value is not None, value if value is not None else 0, document["id"]

    ordered = sorted(documents, key=key, reverse=query.sort_direction == -1)
    start = (query.page - 1) * query.page_size - skipped
    return ordered[start : start + query.page_size]


def tallies_filter(merchant_id: str) -> Document:
    """The merchant's day tallies: an equality served from an index (``INDEXES``)."""
    return {"merchantId": merchant_id}


def amounts_filter(merchant_id: str) -> Document:
    """The amounts parts of the merchant's day tallies: one equality, served from an index
    that holds no rows part."""
    return {"merchantPart": merchant_part(merchant_id, "amounts")}


def hour_filter(merchant_id: str, start: datetime) -> Document:
    """The merchant's orders of the hour from ``start``: one equality, served from an index
    (``INDEXES``) that holds no other merchant's orders."""
    return {"hourKey": hour_key(merchant_id, start)}


def from_document(document: Document) -> OrderRecord:
    """The order of a stored document read with its ``record`` (see ``OrderDocument``)."""
    return OrderRecord.model_validate_json(document["record"])


class OrderQueries:
    def __init__(self, db: Database) -> None:
        self._orders = db[ORDERS]
        self._spans = db[ORDER_SPANS]
        self._tallies = db[DAY_TALLIES]
        self._parts = db[DAY_TALLY_PARTS]
        self._generations = db[TALLY_GENERATIONS]
        self._parsed: LRUCache[tuple[str, str, int, bool], Slot] = LRUCache(PARSED_DAYS)
        """Parsed tally versions."""
        self._merchants: LRUCache[tuple[str, bool], tuple[str, list[Slot]]] = LRUCache(CACHED_MERCHANTS)
        """Per merchant (and whether with amounts): its days as read under a generation."""

    async def get(self, order_id: str, merchant_id: str | None) -> OrderRecord | None:
        scope: Document = {"_id": order_id}
        if merchant_id is not None:
            scope["merchantId"] = merchant_id
        document = await self._orders.find_one(scope, _RECORD_ONLY)
        return from_document(document) if document else None

    async def find(self, query: OrderQuery, merchant_id: str | None) -> tuple[list[OrderRecord], int]:
        """One page of orders and the number of all that match. A query that names its orders
        by an indexed equality few orders share (``OrderQuery.is_narrow``) reads them all once
        and pages in the process. One merchant's orders by status, amount or ``createdAt``
        range, newest or oldest first (``TalliedQuery``), are counted from its hourly
        tallies and read an hour at a time. Others read the page, and count unless a first
        page that is not full tells the total itself."""
        criteria = order_filter(query, merchant_id)
        if query.is_narrow and (found := await self._all_matching(criteria)) is not None:
            return [from_document(d) for d in page_of(found, query)], len(found)
        scope = merchant_id or query.equal_to("merchantId")
        tallied = TalliedQuery.of(query)
        if isinstance(scope, str) and tallied is not None:
            return await self._tallied_page(query, tallied, scope)
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

    async def _tallied_page(
        self, query: OrderQuery, tallied: TalliedQuery, merchant_id: str
    ) -> tuple[list[OrderRecord], int]:
        """A page and its total from the merchant's day tallies: a day or an hour wholly
        inside the query's ``createdAt`` range is counted from its tally, an hour the range
        cuts (two at most) from its orders; then only the hours that hold the page are read,
        each by an equality on ``hourKey`` that FerretDB v1 serves from an index. What is
        read grows with the merchant's days and the page, not with its orders."""
        newest_first = query.sort_direction == -1
        slots = slots_for(await self._days(merchant_id, with_amounts=tallied.by_amount), tallied, newest_first)
        read = await self._orders_in(merchant_id, [s.start for s in slots if tallied.covers(s.start, s.length) is None])

        def count(slot: Slot) -> int:
            if slot.start in read and not slot.hours:
                return len([d for d in read[slot.start] if tallied.matches(d)])
            return tallied.count(slot.tally)

        counts = [count(slot) for slot in slots]
        offset = (query.page - 1) * query.page_size
        chosen, before = overlapping(counts, offset, query.page_size)
        hours = hours_of([slots[i] for i in chosen], newest_first)
        inner, skipped = overlapping([count(hour) for hour in hours], offset - before, query.page_size)
        wanted = [hours[i].start for i in inner]
        read |= await self._orders_in(merchant_id, [start for start in wanted if start not in read])
        found = [d for start in wanted for d in read[start] if tallied.matches(d)]
        return [from_document(d) for d in page_of(found, query, before + skipped)], sum(counts)

    async def _days(self, merchant_id: str, *, with_amounts: bool) -> list[Slot]:
        """The merchant's tallied days, oldest first (each day's latest version), with their
        amounts if asked: read again only when its ``TallyGeneration`` has changed since
        they were last read (one small read instead of a document a day)."""
        marker = await self._generations.find_one({"_id": merchant_id})
        generation = None if marker is None else TallyGeneration.model_validate(marker).generation
        key = (merchant_id, with_amounts)
        cached = self._merchants.get(key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        days = await self._read_days(merchant_id, with_amounts=with_amounts)
        if generation is not None:
            self._merchants[key] = (generation, days)
        return days

    async def _read_days(self, merchant_id: str, *, with_amounts: bool) -> list[Slot]:
        """The merchant's tallied days as stored now. A version never changes, so each is
        parsed once and kept (``PARSED_DAYS``). A version's amounts can be gone when it has
        just been replaced: then the days are read again."""
        while True:
            newest: dict[str, Document] = {}
            async for document in self._tallies.find(tallies_filter(merchant_id), _HOURS_ONLY):
                day = document["day"]
                if day not in newest or document["seq"] > newest[day]["seq"]:
                    newest[day] = document
            unparsed = [d for d in newest.values() if self._key(merchant_id, d, with_amounts) not in self._parsed]
            wanted = {d["amountsId"] for d in unparsed} if with_amounts else set()
            amounts = await self._amounts(merchant_id, wanted)
            if wanted <= amounts.keys():
                break
        return [self._parsed_day(merchant_id, newest[day], with_amounts, amounts) for day in sorted(newest)]

    async def _amounts(self, merchant_id: str, ids: set[str]) -> dict[str, str]:
        """The amounts parts of these ids: one by one if they are few (a reader that has the
        rest parsed), else all of the merchant's at once (an equality; ``$in`` would not be)."""
        if not ids:
            return {}
        if len(ids) <= 3:
            found = [await self._parts.find_one({"_id": i}, {"text": 1}) for i in ids]
            return {d["_id"]: d["text"] for d in found if d is not None}
        return {d["_id"]: d["text"] async for d in self._parts.find(amounts_filter(merchant_id), {"text": 1})}

    @staticmethod
    def _key(merchant_id: str, document: Document, with_amounts: bool) -> tuple[str, str, int, bool]:
        return merchant_id, document["day"], document["seq"], with_amounts

    def _parsed_day(self, merchant_id: str, document: Document, with_amounts: bool, amounts: dict[str, str]) -> Slot:
        key = self._key(merchant_id, document, with_amounts)
        parsed = self._parsed.get(key)
        if parsed is None:
            amounts_text = amounts[document["amountsId"]] if with_amounts else None
            parsed = self._parsed[key] = Slot.parsed_day(
                hour_start(document["day"], 0), document["hours"], amounts_text
            )
        return parsed

    async def _orders_in(self, merchant_id: str, hours: list[datetime]) -> dict[datetime, list[Document]]:
        """The merchant's stored orders of each hour (by its start), read side by side."""

        async def orders_of(start: datetime) -> list[Document]:
            return [d async for d in self._orders.find(hour_filter(merchant_id, start), _LISTED)]

        return dict(zip(hours, await asyncio.gather(*(orders_of(start) for start in hours)), strict=True))

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
        Read from ``ORDER_SPANS`` (a few small documents per merchant), not by sorting
        orders, which FerretDB v1 does only after reading every one of them."""
        scope = merchant_id or query.equal_to("merchantId")
        found = [d async for d in self._spans.find({} if scope is None else {"merchantId": scope})]
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
        checkout, holder = await self._read(checkout_id)
        return (checkout, holder) if checkout is not None else None

    async def holder(self, checkout_id: str) -> str | None:
        """The order whose claim holds the checkout, if any (the checkout itself may not be
        in the view yet: a create carries the paid checkout the ingress saw)."""
        return (await self._read(checkout_id))[1]

    async def _read(self, checkout_id: str) -> tuple[Checkout | None, str | None]:
        checkout, holder = None, None
        async for document in self._checkouts.find(checkout_filter(checkout_id)):
            if isinstance(document["_id"], dict):
                holder = CheckoutClaim.model_validate(document).order_id
            else:
                checkout = CheckoutDocument.model_validate(document).checkout
        return checkout, holder


def checkout_filter(checkout_id: str) -> Document:
    """A checkout's document in the view and its claim: one equality on a field both hold,
    which an index serves. (The claim's ``_id`` is a document, and FerretDB v1 pushes no
    equality on a document down: a read by it is a read of every checkout.)"""
    return {"checkoutId": checkout_id}
