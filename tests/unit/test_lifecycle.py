"""The order and return state machines: every allowed and every refused transition."""

from typing import Any

import pytest

from schemas.commands import (
    CancelOrder,
    ConfirmOrder,
    DeliverOrder,
    OpenReturn,
    OrderCommand,
    PickUpReturn,
    RejectReturn,
    ReturnItem,
    ShipOrder,
    SucceedReturn,
)
from schemas.order import OrderStatus, ReturnStatus
from services.domain.lifecycle import Change, apply_command
from services.domain.outcomes import Refusal, RefusalKind
from tests.factories import NOW, POLICY, a_return, order

BASE = {"command_id": "cmd", "order_id": "o1", "merchant_id": "m1", "issued_at": NOW}

ORDER_COMMANDS: dict[str, OrderCommand] = {
    "confirm": ConfirmOrder(**BASE),
    "ship": ShipOrder(**BASE, tracking_reference="TR1", tracking_url="https://track.example.com/TR1"),
    "deliver": DeliverOrder(**BASE),
    "cancel_merchant": CancelOrder(**BASE, reason="merchant"),
    "cancel_customer": CancelOrder(**BASE, reason="customer"),
}
# (command, from status) -> status after; every pair not listed must be refused.
ALLOWED = {
    ("confirm", OrderStatus.CREATED): OrderStatus.CONFIRMED,
    ("ship", OrderStatus.CONFIRMED): OrderStatus.SHIPPED,
    ("deliver", OrderStatus.SHIPPED): OrderStatus.DELIVERED,
    ("cancel_merchant", OrderStatus.CREATED): OrderStatus.CANCELED_BY_MERCHANT,
    ("cancel_merchant", OrderStatus.CONFIRMED): OrderStatus.CANCELED_BY_MERCHANT,
    ("cancel_customer", OrderStatus.CREATED): OrderStatus.CANCELED_BY_CUSTOMER,
    ("cancel_customer", OrderStatus.CONFIRMED): OrderStatus.CANCELED_BY_CUSTOMER,
}


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("name", list(ORDER_COMMANDS))
def test_order_transitions(name: str, status: OrderStatus) -> None:
    record = order(status)
    outcome = apply_command(record, ORDER_COMMANDS[name], NOW, POLICY)
    expected = ALLOWED.get((name, status))
    if expected is None:
        assert isinstance(outcome, Refusal)
        assert outcome.kind is RefusalKind.NOT_ALLOWED
        return
    assert isinstance(outcome, Change)
    assert outcome.record.status is expected
    assert outcome.record.version == record.version + 1
    assert outcome.record.updated_at == NOW
    assert outcome.event_type == "order.status.updated"
    assert outcome.refund is None


def test_ship_sets_tracking_and_deliver_sets_delivered_at() -> None:
    shipped = apply_command(order(OrderStatus.CONFIRMED), ORDER_COMMANDS["ship"], NOW, POLICY)
    assert isinstance(shipped, Change)
    assert shipped.record.delivery.tracking_reference == "TR1"
    assert shipped.record.delivery.tracking_url == "https://track.example.com/TR1"
    assert shipped.record.delivered_at is None
    delivered = apply_command(shipped.record, ORDER_COMMANDS["deliver"], NOW, POLICY)
    assert isinstance(delivered, Change)
    assert delivered.record.delivered_at == NOW
    assert delivered.record.delivery.tracking_reference == "TR1"


def test_another_merchants_order_is_not_found() -> None:
    command = ConfirmOrder(**(BASE | {"merchant_id": "m2"}))
    outcome = apply_command(order(OrderStatus.CREATED), command, NOW, POLICY)
    assert isinstance(outcome, Refusal)
    assert outcome.kind is RefusalKind.NOT_FOUND


def test_the_input_order_is_not_changed() -> None:
    record = order(OrderStatus.CREATED)
    before = record.model_dump()
    apply_command(record, ORDER_COMMANDS["confirm"], NOW, POLICY)
    assert record.model_dump() == before


RETURN_COMMANDS: dict[str, Any] = {"pickup": PickUpReturn, "succeed": SucceedReturn, "reject": RejectReturn}
RETURN_ALLOWED = {
    ("pickup", ReturnStatus.PENDING_PICKUP): ReturnStatus.PICKED_UP,
    ("succeed", ReturnStatus.PICKED_UP): ReturnStatus.REFUNDED,
    ("reject", ReturnStatus.PENDING_PICKUP): ReturnStatus.REJECTED,
    ("reject", ReturnStatus.PICKED_UP): ReturnStatus.REJECTED,
}


@pytest.mark.parametrize("status", list(ReturnStatus))
@pytest.mark.parametrize("name", list(RETURN_COMMANDS))
def test_return_transitions(name: str, status: ReturnStatus) -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r1", status, 1)])
    outcome = apply_command(record, RETURN_COMMANDS[name](**BASE, return_id="r1"), NOW, POLICY)
    expected = RETURN_ALLOWED.get((name, status))
    if expected is None:
        assert isinstance(outcome, Refusal)
        assert outcome.kind is RefusalKind.NOT_ALLOWED
        return
    assert isinstance(outcome, Change)
    assert outcome.event_type == "returns.status.updated"
    assert outcome.refund is not None
    assert outcome.refund.status is expected
    assert outcome.record.returns[0] == outcome.refund
    assert outcome.record.status is OrderStatus.DELIVERED
    assert outcome.record.version == record.version + 1
    assert outcome.refund.picked_up_at == (NOW if expected is ReturnStatus.PICKED_UP else None)
    assert outcome.refund.succeeded_at == (NOW if expected is ReturnStatus.REFUNDED else None)


def test_unknown_return_is_not_found() -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1)
    outcome = apply_command(record, PickUpReturn(**BASE, return_id="nope"), NOW, POLICY)
    assert isinstance(outcome, Refusal)
    assert outcome.kind is RefusalKind.NOT_FOUND


def test_open_return_creates_a_pending_pickup_return() -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1)
    command = OpenReturn(**BASE, return_id="r9", products=[ReturnItem(id="p1", quantity=2, reason="changed_mind")])
    outcome = apply_command(record, command, NOW, POLICY)
    assert isinstance(outcome, Change)
    assert outcome.refund is not None
    assert outcome.refund.status is ReturnStatus.PENDING_PICKUP
    assert [(p.id, p.quantity, p.reason) for p in outcome.refund.products] == [("p1", 2, "changed_mind")]
    assert outcome.refund.products[0].unit_price == 1000


def test_open_return_twice_with_the_same_id_is_refused() -> None:
    record = order(
        OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r9", ReturnStatus.PENDING_PICKUP, 1)]
    )
    command = OpenReturn(**BASE, return_id="r9", products=[ReturnItem(id="p1", quantity=1, reason="changed_mind")])
    assert isinstance(apply_command(record, command, NOW, POLICY), Refusal)


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.DELIVERED])
def test_returns_only_from_delivered_orders(status: OrderStatus) -> None:
    command = OpenReturn(**BASE, return_id="r9", products=[ReturnItem(id="p1", quantity=1, reason="changed_mind")])
    outcome = apply_command(order(status), command, NOW, POLICY)
    assert isinstance(outcome, Refusal)
    assert outcome.kind is RefusalKind.NOT_ALLOWED
