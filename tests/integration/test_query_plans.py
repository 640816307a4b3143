"""The lookups a merchant makes most, by order id, idempotency key and user, are answered from an index
and not by reading every order: on MongoDB through the indexes created at start-up, on
FerretDB v1 through the GIN indexes of `deploy/ferretdb/equality-indexes.sql` as well."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from schemas.base import utc_now
from schemas.storage.orders import CHECKOUTS, DAY_TALLIES, DAY_TALLY_PARTS
from schemas.storage.orders import ORDERS as ORDER_DOCUMENTS
from services.domain.events import event_for
from services.domain.listing import TalliedQuery
from services.domain.queries import parse_order_query
from services.order_writer import queries
from services.order_writer.queries import OrderQueries, amounts_filter, hour_filter, order_filter, tallies_filter
from services.order_writer.store import INDEXES, CheckoutStore, OrderStore, unpublished_filter
from services.shared.mongo import Database, ensure_indexes
from tests import factories
from tests.support.infrastructure import Infrastructure
from tests.support.seed import SeededMerchant, seed_orders

# Enough orders that reading them all costs more than an index lookup, so a planner that
# could use an index does (a few rows are read faster without one).
ORDERS = 4000
MERCHANTS = ["merchant-a", "merchant-b"]


@pytest.fixture(scope="module")
async def seeded(infra: Infrastructure) -> AsyncIterator[tuple[Database, dict[str, SeededMerchant]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.database_url(f"orders_test_plans_{uuid.uuid4().hex[:10]}"), tz_aware=True
    )
    db = client.get_default_database()
    try:
        await ensure_indexes(db, INDEXES)
        yield db, await seed_orders(db, MERCHANTS, ORDERS, users_per_merchant=100)
    finally:
        await client.drop_database(db.name)
        await client.close()


def access_paths(plan: dict[str, Any]) -> tuple[bool, bool]:
    """(reads through an index, reads the whole collection), for MongoDB's plans and for
    FerretDB's (which are PostgreSQL's)."""
    text = json.dumps(plan.get("queryPlanner", plan), default=str)
    if "winningPlan" in text:
        return "IXSCAN" in text, "COLLSCAN" in text
    return "Index Scan" in text, "Seq Scan" in text


def index_reads(plan: dict[str, Any]) -> tuple[int, bool]:
    """(how many index scans the plan ANDs, whether what they found is then filtered, each
    document read to be thrown away), from MongoDB's winning plan or PostgreSQL's."""
    planner = plan.get("queryPlanner", plan)
    if "winningPlan" in planner:
        tree = planner["winningPlan"]
        return json.dumps(tree).count('"IXSCAN"'), _holds_key(tree, "filter")
    return json.dumps(planner).count('"Index Cond"'), _holds_key(planner, "Filter")


def _holds_key(tree: Any, key: str) -> bool:
    if isinstance(tree, dict):
        return key in tree or any(_holds_key(value, key) for value in tree.values())
    if isinstance(tree, list):
        return any(_holds_key(value, key) for value in tree)
    return False


@pytest.mark.parametrize("parameter", ["filter.id", "filter.idempotencyKey", "filter.userId"])
async def test_lookup_is_served_by_an_index(seeded: tuple[Database, dict[str, SeededMerchant]], parameter: str) -> None:
    db, known = seeded
    merchant = known[MERCHANTS[0]]
    value = {
        "filter.id": merchant.order_ids[17],
        "filter.idempotencyKey": merchant.idempotency_keys[17],
        "filter.userId": merchant.user_ids[3],
    }[parameter]
    query = parse_order_query([(parameter, value)], admin=False)
    store = OrderQueries(db)

    plan = await store.explain(query, MERCHANTS[0])
    uses_index, reads_everything = access_paths(plan)
    assert (uses_index, reads_everything) == (True, False), json.dumps(plan, default=str)[:3000]

    records, total = await store.find(query, MERCHANTS[0])
    assert total == len(records) > 0
    assert all(r.merchant_id == MERCHANTS[0] for r in records)
    if parameter == "filter.id":
        assert [r.id for r in records] == [value]
    elif parameter == "filter.idempotencyKey":
        assert [(r.id, r.idempotency_key) for r in records] == [(merchant.order_ids[17], value)]
    else:
        assert {r.user_id for r in records} == {value}


@pytest.mark.parametrize("sort", ["-createdAt", "amount"])
async def test_a_narrow_query_pages_in_the_process_as_the_database_would(
    seeded: tuple[Database, dict[str, SeededMerchant]], sort: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, known = seeded
    user = known[MERCHANTS[1]].user_ids[5]
    store = OrderQueries(db)
    answers = []
    for limit in (queries.NARROW_LIMIT, 3):  # the second is below the user's order count
        monkeypatch.setattr(queries, "NARROW_LIMIT", limit)
        pages = [
            await store.find(
                parse_order_query(
                    [("filter.userId", user), ("sort", sort), ("pageSize", "4"), ("page", str(p))], admin=False
                ),
                MERCHANTS[1],
            )
            for p in (1, 2, 9)
        ]
        answers.append([([r.id for r in records], total) for records, total in pages])
    in_process, in_database = answers
    assert in_process == in_database
    (first, total), (second, _), (ninth, _) = in_process
    assert total > 8  # so that pages 1 and 2 are full
    assert len(first) == len(second) == 4
    assert ninth == []


async def test_a_tallied_page_reads_days_and_hours_through_indexes(
    seeded: tuple[Database, dict[str, SeededMerchant]],
) -> None:
    db, _ = seeded
    store = OrderQueries(db)
    days = await store._days(MERCHANTS[0], with_amounts=False)
    assert len(days) > 80  # 2,000 orders of one merchant over 90 days
    for collection, criteria in (
        (DAY_TALLIES, tallies_filter(MERCHANTS[0])),
        (DAY_TALLY_PARTS, amounts_filter(MERCHANTS[0])),
        (ORDER_DOCUMENTS, hour_filter(MERCHANTS[0], days[-1].hours[-1].start)),
    ):
        plan = await db[collection].find(criteria).explain()
        assert access_paths(plan) == (True, False), json.dumps(plan, default=str)[:3000]
        assert index_reads(plan) == (1, False), json.dumps(plan, default=str)[:3000]


async def test_an_hour_of_orders_is_read_without_other_merchants_orders_of_that_hour(
    seeded: tuple[Database, dict[str, SeededMerchant]],
) -> None:
    """Every merchant has orders in most hours: one index that found them all, filtered to
    one merchant's after reading each, or two indexes ANDed (one of them holding all of the
    merchant's orders), would make a page's read grow with what is not on the page."""
    db, _ = seeded
    days = await OrderQueries(db)._days(MERCHANTS[0], with_amounts=False)
    hour = days[-1].hours[-1].start
    plan = await db[ORDER_DOCUMENTS].find(hour_filter(MERCHANTS[0], hour)).explain()
    assert access_paths(plan) == (True, False), json.dumps(plan, default=str)[:3000]
    assert index_reads(plan) == (1, False), json.dumps(plan, default=str)[:3000]
    # The check sees the merchant as a second equality, whether the planner ANDs a second
    # index or filters.
    two_fields = {"merchantId": MERCHANTS[0], **hour_filter(MERCHANTS[0], hour)}
    assert index_reads(await db[ORDER_DOCUMENTS].find(two_fields).explain()) != (1, False)


async def test_the_stale_outbox_sweep_finds_what_it_publishes_through_an_index(
    seeded: tuple[Database, dict[str, SeededMerchant]],
) -> None:
    """The writer sweeps every 5 s: read from the whole collection, that is every order
    each time (on FerretDB v1, a range like ``outboxSince <= t`` alone is read so)."""
    db, _ = seeded
    now = utc_now()
    plan = await db[ORDER_DOCUMENTS].find(unpublished_filter(now)).explain()
    assert access_paths(plan) == (True, False), json.dumps(plan, default=str)[:3000]

    store = OrderStore(db)
    record = factories.order(id=f"swept-{uuid.uuid4().hex}", merchant_id="merchant-swept", created_at=now, version=1)
    event = event_for(record, "order.status.updated", None, now)
    assert await store.insert_many([(record, event, "command-1")]) == [True]
    assert await store.with_unpublished_events(now + timedelta(days=1), limit=10) == []  # a creation is not swept
    changed = record.model_copy(update={"version": 2})
    assert await store.replace(1, changed, event_for(changed, "order.status.updated", None, now), "command-2", now)
    assert await store.with_unpublished_events(now - timedelta(seconds=1), limit=10) == []
    assert await store.with_unpublished_events(now, limit=10) == [record.id]
    assert await store.clear_outbox(record.id, changed.version)
    assert await store.with_unpublished_events(now + timedelta(days=1), limit=10) == []
    assert await db[ORDER_DOCUMENTS].find_one({"_id": record.id}, {"outboxSince": 1, "outboxPending": 1}) == {
        "_id": record.id
    }


def tallied_queries(now: datetime) -> list[list[tuple[str, str]]]:
    week_ago = (now - timedelta(days=7, microseconds=1500)).isoformat()
    long_ago = (now - timedelta(days=83, minutes=17)).isoformat()
    return [
        [],
        [("filter.status", "$in:success,canceled")],
        [("filter.status", "$ne:pending")],
        [("filter.amount", "$gt:500000")],
        [("filter.amount", "$lte:20000"), ("sort", "createdAt")],
        [("filter.createdAt", f"$gte:{week_ago}")],
        [("filter.createdAt", f"$lt:{long_ago}")],
        [("filter.createdAt", f"$gt:{long_ago}"), ("filter.status", "success"), ("sort", "createdAt")],
    ]


@pytest.mark.parametrize("case", range(8))
@pytest.mark.parametrize(("page", "size"), [(1, 25), (5, 25), (3, 7), (400, 25)])
async def test_a_page_counted_from_tallies_is_the_page_the_database_reads(
    seeded: tuple[Database, dict[str, SeededMerchant]], case: int, page: int, size: int
) -> None:
    """Pages and totals of the queries tallies answer, against the database's own sort,
    skip, limit and count on the same orders; and the page reads only the hours it needs."""
    db, _ = seeded
    params = tallied_queries(utc_now())[case] + [("page", str(page)), ("pageSize", str(size))]
    query = parse_order_query(params, admin=False)
    assert TalliedQuery.of(query) is not None
    store = OrderQueries(db)
    hours_read: list[int] = []
    read_hours = store._orders_in

    async def counting(merchant_id: str, hours: list[datetime]) -> dict[datetime, list[dict[str, Any]]]:
        hours_read.append(len(hours))
        return await read_hours(merchant_id, hours)

    store._orders_in = counting  # type: ignore[method-assign]
    records, total = await store.find(query, MERCHANTS[0])

    criteria = order_filter(query, MERCHANTS[0])
    direction = query.sort_direction
    cursor = (
        db[ORDER_DOCUMENTS]
        .find(criteria, {"id": 1})
        .sort([(query.sort_field, direction), ("id", direction)])
        .skip((page - 1) * size)
        .limit(size)
    )
    assert ([r.id for r in records], total) == (
        [d["id"] async for d in cursor],
        await db[ORDER_DOCUMENTS].count_documents(criteria),
    )
    assert total > 0
    assert hours_read  # the tallies answered, not the database's sort and count
    assert sum(hours_read) <= size + 2, hours_read


class FindFilters(monitoring.CommandListener):
    """The filter of every ``find`` a client sends, by collection."""

    def __init__(self) -> None:
        self.filters: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find":
            self.filters.append((event.command["find"], dict(event.command.get("filter", {}))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_redelivered_creates_checkout_claim_is_read_through_an_index(infra: Infrastructure) -> None:
    """A claim that is not the first (Kafka hands a batch of creates over again after a
    crash or a rebalance) reads the order that holds the checkout. Read by a filter the
    database cannot serve from an index, each such read is every checkout in the view: on
    FerretDB v1 a document ``_id`` is not pushed down, and two writers meeting in a
    rebalance under a backlog stalled for minutes on hundreds of them."""
    filters = FindFilters()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        infra.database_url(f"orders_test_claims_{uuid.uuid4().hex[:10]}"), tz_aware=True, event_listeners=[filters]
    )
    db = client.get_default_database()
    try:
        await ensure_indexes(db, INDEXES)
        store = CheckoutStore(db)
        checkouts = [factories.checkout().model_copy(update={"id": f"checkout-{i}"}) for i in range(ORDERS)]
        await store.apply_many(checkouts)
        pairs = [(c.id, f"order-{i}") for i, c in enumerate(checkouts)]
        assert await store.claim_many(pairs) == [order for _, order in pairs]
        filters.filters.clear()

        again = [*pairs[:3], (pairs[3][0], "another-order")]  # redelivered, and a second order for a checkout
        assert await store.claim_many(again) == [order for _, order in pairs[:4]]

        reads = [criteria for collection, criteria in filters.filters if collection == CHECKOUTS]
        assert len(reads) == len(again)  # each claim that was not first read its holder
        for criteria in reads:
            plan = await db.command("explain", {"find": CHECKOUTS, "filter": criteria})
            assert access_paths(plan) == (True, False), json.dumps(plan, default=str)[:3000]
    finally:
        await client.drop_database(db.name)
        await client.close()
