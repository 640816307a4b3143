"""Returnable quantities, reasons and the return window."""

from datetime import timedelta

import pytest

from schemas.commands import ReturnItem
from schemas.order import OrderStatus, ReturnStatus
from services.domain.outcomes import Refusal, RefusalKind
from services.domain.returns import decide_return, returnable_quantities, returns_view
from tests.factories import NOW, POLICY, a_return, order


def test_quantity_ordered_minus_returns_that_are_not_canceled() -> None:
    record = order(
        OrderStatus.DELIVERED,
        delivered_days_ago=2,
        returns=[
            a_return("r1", ReturnStatus.PENDING_PICKUP, 1),
            a_return("r2", ReturnStatus.REFUNDED, 1),
            a_return("r3", ReturnStatus.REJECTED, 2),
            a_return("r4", ReturnStatus.PICKED_UP, 1, product_id="p2"),
        ],
    )
    assert returnable_quantities(record, NOW, POLICY) == {"p1": 2, "p2": 0}


@pytest.mark.parametrize(("days", "open_"), [(0, True), (13.9, True), (14, True), (14.01, False), (30, False)])
def test_return_window(days: float, open_: bool) -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=days)
    assert returnable_quantities(record, NOW, POLICY) == ({"p1": 4, "p2": 1} if open_ else {"p1": 0, "p2": 0})


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.DELIVERED])
def test_nothing_is_returnable_before_delivery(status: OrderStatus) -> None:
    assert set(returnable_quantities(order(status), NOW, POLICY).values()) == {0}


def test_decide_return_accepts_up_to_the_returnable_quantity() -> None:
    record = order(
        OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r1", ReturnStatus.PENDING_PICKUP, 1)]
    )
    items = [
        ReturnItem(id="p1", quantity=2, reason="changed_mind"),
        ReturnItem(id="p1", quantity=1, reason="stopped_working"),
    ]
    products = decide_return(record, items, NOW, POLICY)
    assert not isinstance(products, Refusal)
    assert [(p.id, p.quantity, p.reason) for p in products] == [("p1", 2, "changed_mind"), ("p1", 1, "stopped_working")]


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([ReturnItem(id="p1", quantity=4, reason="changed_mind")], "products[0].quantity"),
        (
            [
                ReturnItem(id="p1", quantity=2, reason="changed_mind"),
                ReturnItem(id="p1", quantity=2, reason="changed_mind"),
            ],
            "products[1].quantity",
        ),
        ([ReturnItem(id="nope", quantity=1, reason="changed_mind")], "products[0].id"),
        ([ReturnItem(id="p2", quantity=1, reason="no_such_reason")], "products[0].reason"),
    ],
)
def test_decide_return_refuses(items: list[ReturnItem], field: str) -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r1", ReturnStatus.REFUNDED, 1)])
    refusal = decide_return(record, items, NOW, POLICY)
    assert isinstance(refusal, Refusal)
    assert refusal.kind is RefusalKind.UNPROCESSABLE
    assert refusal.field == field


def test_decide_return_after_the_window_is_unprocessable() -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=15)
    refusal = decide_return(record, [ReturnItem(id="p1", quantity=1, reason="changed_mind")], NOW, POLICY)
    assert isinstance(refusal, Refusal)
    assert refusal.kind is RefusalKind.UNPROCESSABLE


def test_returns_view_lists_products_with_quantity_and_reasons() -> None:
    record = order(
        OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r1", ReturnStatus.PENDING_PICKUP, 3)]
    )
    view = returns_view(record, NOW + timedelta(seconds=1), POLICY).model_dump(mode="json")
    first = view["returnableProducts"][0]
    assert (first["id"], first["returnableQuantity"], first["unitPrice"]) == ("p1", 1, 1000)
    assert {"code": "changed_mind", "label": "I changed my mind"} in first["returnableReasons"]
    assert {"code": "stopped_working", "label": "Item stopped working well after usage"} in first["returnableReasons"]
    assert [r["id"] for r in view["returns"]] == ["r1"]
