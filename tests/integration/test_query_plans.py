"""The lookups a merchant makes most, by order id, idempotency key and user, are answered from an index
and not by reading every order: on MongoDB through the indexes created at start-up, on
FerretDB v1 through the GIN indexes of `deploy/ferretdb/equality-indexes.sql` as well."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.domain.queries import parse_order_query
from services.order_writer import queries
from services.order_writer.queries import OrderQueries
from services.order_writer.store import INDEXES
from services.shared.mongo import Database, ensure_indexes
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
