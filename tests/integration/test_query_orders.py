"""GET /orders and GET /orders/{id} through the real stack: the filter grammar, pagination,
sorting, the returns rule, and merchant isolation (two merchants whose orders interleave)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from services.shared.merchant_store import Credentials
from tests.support.stack import Stack, eventually


@dataclass
class Fixture:
    a: Credentials
    b: Credentials
    admin: Credentials
    a_orders: list[str]  # in creation order; amounts 1000, 2000, ...
    b_orders: list[str]


@pytest.fixture(scope="module")
async def orders(stack: Stack) -> Fixture:
    a, b, admin = await stack.merchant(), await stack.merchant(), await stack.merchant(admin=True)
    a_orders: list[str] = []
    b_orders: list[str] = []
    for i in range(5):  # interleaved: a, b, a, b, ...
        for merchant, ids in ((a, a_orders), (b, b_orders)):
            checkout = await stack.checkout(merchant.merchant_id, amount=(i + 1) * 1000)
            ids.append(await stack.create_order(merchant.api_key, checkout.checkout.id, idempotencyKey=f"key-{i}"))
            await stack.order(merchant.api_key, ids[-1])
    async with stack.client(a.api_key) as api:
        assert (await api.post(f"/orders/{a_orders[0]}/confirm")).status_code == 202
    await stack.order(a.api_key, a_orders[0], lambda o: o["status"] == "pending.confirmed")
    fixture = Fixture(a, b, admin, a_orders, b_orders)

    async def listed() -> bool:
        """Lists count from the writer's tallies, which follow ``order.events``."""
        confirmed = await get(stack, a.api_key, **{"filter.status": "pending.confirmed"})
        listed_b = await get(stack, b.api_key)
        return [o["id"] for o in confirmed["data"]] == a_orders[:1] and listed_b["pagination"]["totalItems"] == 5

    await eventually(listed)
    return fixture


async def get(stack: Stack, key: str, **params: str) -> dict[str, Any]:
    async with stack.client(key) as api:
        response = await api.get("/orders", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [o["id"] for o in page["data"]]


async def test_a_merchant_sees_only_its_own_orders(stack: Stack, orders: Fixture) -> None:
    page = await get(stack, orders.a.api_key)
    assert ids(page) == orders.a_orders[::-1]  # default sort: newest first
    assert page["pagination"] == {"totalItems": 5, "currentPage": 1, "pageSize": 25, "totalPages": 1}
    assert ids(await get(stack, orders.a.api_key, **{"filter.id": orders.b_orders[0]})) == []
    assert ids(await get(stack, orders.a.api_key, **{"filter.idempotencyKey": "key-0"})) == [orders.a_orders[0]]
    async with stack.client(orders.a.api_key) as api:
        for call in (
            api.get(f"/orders/{orders.b_orders[0]}"),
            api.post(f"/orders/{orders.b_orders[0]}/confirm"),
            api.post(f"/orders/{orders.b_orders[0]}/cancel", json={"reason": "merchant"}),
            api.get(f"/orders/{orders.b_orders[0]}/webhook-deliveries"),
        ):
            response = await call
            assert response.status_code == 404, response.text
        merchant_filter = await api.get("/orders", params={"filter.merchantId": orders.b.merchant_id})
        assert merchant_filter.status_code == 400
    other = await stack.order(orders.b.api_key, orders.b_orders[0])
    assert other["status"] == "pending.created"


async def test_an_admin_sees_every_merchant_and_may_filter_by_merchant(stack: Stack, orders: Fixture) -> None:
    both = await get(
        stack, orders.admin.api_key, **{"filter.merchantId": f"$in:{orders.a.merchant_id},{orders.b.merchant_id}"}
    )
    assert set(ids(both)) == set(orders.a_orders + orders.b_orders)
    only_b = await get(stack, orders.admin.api_key, **{"filter.merchantId": orders.b.merchant_id})
    assert ids(only_b) == orders.b_orders[::-1]
    async with stack.client(orders.admin.api_key) as api:
        assert (await api.get(f"/orders/{orders.b_orders[1]}")).status_code == 200


async def test_filters(stack: Stack, orders: Fixture) -> None:
    key, a = orders.a.api_key, orders.a_orders

    async def match(**params: str) -> set[str]:
        return set(ids(await get(stack, key, **params)))

    assert await match(**{"filter.amount": "$gt:3000"}) == {a[3], a[4]}
    assert await match(**{"filter.amount": "$lte:2000"}) == {a[0], a[1]}
    assert await match(**{"filter.amount": "$in:1000,5000,7000"}) == {a[0], a[4]}
    assert await match(**{"filter.amount": "$nin:1000,5000"}) == {a[1], a[2], a[3]}
    assert await match(**{"filter.amount": "$ne:1000", "filter.status": "pending.created"}) == set(a[1:])
    assert await match(**{"filter.status": "pending"}) == set(a)
    assert await match(**{"filter.status": "pending.confirmed"}) == {a[0]}
    assert await match(**{"filter.status": "$in:success,pending.confirmed"}) == {a[0]}
    assert await match(**{"filter.status": "$nin:pending.created"}) == {a[0]}
    assert await match(**{"filter.status": "$ne:pending"}) == set()
    assert await match(**{"filter.idempotencyKey": "$in:key-1,key-3"}) == {a[1], a[3]}
    assert await match(**{"filter.currency": "EGP"}) == set(a)
    first = await stack.order(key, a[0])
    assert await match(**{"filter.userId": first["userId"]}) == {a[0]}
    assert await match(**{"filter.checkoutId": first["checkoutId"]}) == {a[0]}
    created = datetime.fromisoformat(first["createdAt"]).isoformat()
    assert await match(**{"filter.createdAt": f"$lte:{created}"}) == {a[0]}
    assert await match(**{"filter.createdAt": f"$gt:{created}"}) == set(a[1:])
    assert await match(**{"filter.userId": "$eq:$where"}) == set()


async def test_pagination_and_sorting(stack: Stack, orders: Fixture) -> None:
    key, a = orders.a.api_key, orders.a_orders
    by_amount = await get(stack, key, sort="amount", pageSize="2", page="2")
    assert ids(by_amount) == [a[2], a[3]]
    assert by_amount["pagination"] == {"totalItems": 5, "currentPage": 2, "pageSize": 2, "totalPages": 3}
    assert ids(await get(stack, key, sort="-amount", pageSize="2")) == [a[4], a[3]]
    assert ids(await get(stack, key, sort="createdAt", pageSize="1")) == [a[0]]
    assert ids(await get(stack, key, page="4", pageSize="2")) == []


async def test_returns_only_when_asked_by_id_or_idempotency_key(stack: Stack, orders: Fixture) -> None:
    key, a = orders.a.api_key, orders.a_orders
    assert all("returns" not in o for o in (await get(stack, key))["data"])
    for params in ({"filter.id": a[1]}, {"filter.idempotencyKey": "key-1"}):
        [order] = (await get(stack, key, **params))["data"]
        assert order["returns"]["returns"] == []
        assert [p["returnableQuantity"] for p in order["returns"]["returnableProducts"]] == [0, 0]  # not delivered
    single = await stack.order(key, a[1])
    assert "returnableProducts" in single["returns"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("filter.amount", "$where:1"),
        ("filter.$where", "1"),
        ("filter.meta.x", "1"),
        ("filter.id[$ne]", "x"),
        ("filter.userId", "$regex:.*"),
        ("filter.amount", "12abc"),
        ("filter.createdAt", "not-a-date"),
        ("filter.status", "shipped"),
        ("filter.idempotencyKey", "$in:" + ",".join(str(i) for i in range(101))),
        ("pageSize", "500"),
        ("sort", "meta"),
        ("unknown", "1"),
    ],
)
async def test_bad_queries_are_400_naming_the_parameter(stack: Stack, orders: Fixture, name: str, value: str) -> None:
    async with stack.client(orders.a.api_key) as api:
        response = await api.get("/orders", params={name: value})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == name


async def test_indexes_exist(stack: Stack, orders: Fixture) -> None:
    indexes = await eventually(lambda: _index_keys(stack))
    for expected in (
        [("merchantId", 1), ("createdAt", -1), ("id", -1)],
        [("merchantId", 1), ("userId", 1), ("createdAt", -1)],
        [("merchantId", 1), ("status", 1), ("createdAt", -1)],
        [("merchantId", 1), ("idempotencyKey", 1)],
        [("checkoutId", 1)],
    ):
        assert expected in indexes


async def _index_keys(stack: Stack) -> list[list[tuple[str, int]]]:
    info = await stack.db.orders.index_information()
    return [[(field, int(direction)) for field, direction in index["key"]] for index in info.values()]
