"""The order and return state machines: given an order and a command, the changed order or
a refusal. Every change increments ``version`` and names the event it yields."""

from dataclasses import dataclass
from datetime import datetime

from schemas.commands import (
    CancelOrder,
    ConfirmOrder,
    DeliverOrder,
    OpenReturn,
    OrderCommand,
    PickUpReturn,
    RejectReturn,
    ShipOrder,
    SucceedReturn,
)
from schemas.events import OrderEventType
from schemas.order import OrderRecord, OrderStatus, Return, ReturnStatus

from .outcomes import Refusal, RefusalKind
from .returns import ReturnPolicy, decide_return

#: Order command type -> statuses it may be applied from.
ORDER_TRANSITIONS_FROM: dict[str, frozenset[OrderStatus]] = {
    "order.confirm": frozenset({OrderStatus.CREATED}),
    "order.ship": frozenset({OrderStatus.CONFIRMED}),
    "order.deliver": frozenset({OrderStatus.SHIPPED}),
    "order.cancel": frozenset({OrderStatus.CREATED, OrderStatus.CONFIRMED}),
    "return.open": frozenset({OrderStatus.DELIVERED}),
}

#: Return command type -> (statuses it may be applied from, status it leads to).
RETURN_TRANSITIONS: dict[str, tuple[frozenset[ReturnStatus], ReturnStatus]] = {
    "return.pickup": (frozenset({ReturnStatus.PENDING_PICKUP}), ReturnStatus.PICKED_UP),
    "return.succeed": (frozenset({ReturnStatus.PICKED_UP}), ReturnStatus.REFUNDED),
    "return.reject": (frozenset({ReturnStatus.PENDING_PICKUP, ReturnStatus.PICKED_UP}), ReturnStatus.REJECTED),
}


@dataclass(frozen=True)
class Change:
    """An applied command: the order after it, and the event that announces it."""

    record: OrderRecord
    event_type: OrderEventType
    refund: Return | None = None


def check_order_transition(status: OrderStatus, command_type: str) -> Refusal | None:
    allowed = ORDER_TRANSITIONS_FROM[command_type]
    if status in allowed:
        return None
    return Refusal(RefusalKind.NOT_ALLOWED, f"{command_type} is not allowed from status {status}")


def check_return_transition(record: OrderRecord, return_id: str, command_type: str) -> Refusal | None:
    found = find_return(record, return_id)
    if found is None:
        return Refusal(RefusalKind.NOT_FOUND, f"order {record.id} has no return {return_id}")
    allowed, _ = RETURN_TRANSITIONS[command_type]
    if found.status in allowed:
        return None
    return Refusal(RefusalKind.NOT_ALLOWED, f"{command_type} is not allowed from return status {found.status}")


def find_return(record: OrderRecord, return_id: str) -> Return | None:
    return next((r for r in record.returns if r.id == return_id), None)


def apply_command(record: OrderRecord, command: OrderCommand, now: datetime, policy: ReturnPolicy) -> Change | Refusal:
    """Apply one lifecycle or return command to an order (pure: no I/O)."""
    if command.merchant_id != record.merchant_id or command.order_id != record.id:
        return Refusal(RefusalKind.NOT_FOUND, f"order {command.order_id} not found")
    if isinstance(command, PickUpReturn | SucceedReturn | RejectReturn):
        return _apply_return_transition(record, command, now)
    if refusal := check_order_transition(record.status, command.type):
        return refusal
    if isinstance(command, OpenReturn):
        return _open_return(record, command, now, policy)
    update: dict[str, object]
    match command:
        case ConfirmOrder():
            update = {"status": OrderStatus.CONFIRMED}
        case ShipOrder():
            delivery = record.delivery.model_copy(
                update={"tracking_reference": command.tracking_reference, "tracking_url": command.tracking_url}
            )
            update = {"status": OrderStatus.SHIPPED, "delivery": delivery}
        case DeliverOrder():
            update = {"status": OrderStatus.DELIVERED, "delivered_at": now}
        case CancelOrder():
            update = {"status": OrderStatus(f"canceled.{command.reason}")}
    return Change(_next_version(record, now, update), "order.status.updated")


def _open_return(record: OrderRecord, command: OpenReturn, now: datetime, policy: ReturnPolicy) -> Change | Refusal:
    if find_return(record, command.return_id) is not None:
        return Refusal(RefusalKind.NOT_ALLOWED, f"return {command.return_id} exists already")
    products = decide_return(record, command.products, now, policy)
    if isinstance(products, Refusal):
        return products
    opened = Return(
        id=command.return_id,
        order_id=record.id,
        status=ReturnStatus.PENDING_PICKUP,
        created_at=now,
        products=products,
    )
    return Change(_next_version(record, now, {"returns": [*record.returns, opened]}), "returns.status.updated", opened)


def _apply_return_transition(
    record: OrderRecord, command: PickUpReturn | SucceedReturn | RejectReturn, now: datetime
) -> Change | Refusal:
    if refusal := check_return_transition(record, command.return_id, command.type):
        return refusal
    _, target = RETURN_TRANSITIONS[command.type]
    changed: Return | None = None
    returns: list[Return] = []
    for ret in record.returns:
        if ret.id == command.return_id:
            update: dict[str, object] = {"status": target}
            if target is ReturnStatus.PICKED_UP:
                update["picked_up_at"] = now
            elif target is ReturnStatus.REFUNDED:
                update["succeeded_at"] = now
            ret = changed = ret.model_copy(update=update)
        returns.append(ret)
    return Change(_next_version(record, now, {"returns": returns}), "returns.status.updated", changed)


def _next_version(record: OrderRecord, now: datetime, update: dict[str, object]) -> OrderRecord:
    return record.model_copy(update={**update, "updated_at": now, "version": record.version + 1})
