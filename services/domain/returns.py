"""Returns: what can be returned, and whether a requested return may be opened."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from schemas.api import ReturnableProduct, ReturnableReasonView, ReturnsView
from schemas.commands import ReturnItem
from schemas.order import OrderRecord, OrderStatus, ReturnedProduct, ReturnStatus

from .outcomes import Refusal, RefusalKind


class ReturnReason(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    label: str


DEFAULT_RETURN_REASONS: tuple[ReturnReason, ...] = (
    ReturnReason(code="changed_mind", label="I changed my mind"),
    ReturnReason(code="stopped_working", label="Item stopped working well after usage"),
    ReturnReason(code="damaged", label="Item arrived damaged"),
    ReturnReason(code="wrong_item", label="I received the wrong item"),
)


@dataclass(frozen=True)
class ReturnPolicy:
    window_days: float
    reasons: tuple[ReturnReason, ...]

    def window_closes_at(self, delivered_at: datetime) -> datetime:
        return delivered_at + timedelta(days=self.window_days)


def is_open_for_returns(record: OrderRecord, now: datetime, policy: ReturnPolicy) -> bool:
    """Products are returnable only from a delivered order, within the return window."""
    return (
        record.status is OrderStatus.DELIVERED
        and record.delivered_at is not None
        and now <= policy.window_closes_at(record.delivered_at)
    )


def returned_quantities(record: OrderRecord) -> Counter[str]:
    """Quantity of each product in returns that are not canceled."""
    counts: Counter[str] = Counter()
    for ret in record.returns:
        if ret.status is not ReturnStatus.REJECTED:
            for product in ret.products:
                counts[product.id] += product.quantity
    return counts


def returnable_quantities(record: OrderRecord, now: datetime, policy: ReturnPolicy) -> dict[str, int]:
    """Per product id: quantity ordered minus quantity in returns that are not canceled;
    zero for every product while the order is not open for returns."""
    open_for_returns = is_open_for_returns(record, now, policy)
    returned = returned_quantities(record)
    return {p.id: max(p.quantity - returned[p.id], 0) if open_for_returns else 0 for p in record.products}


def decide_return(
    record: OrderRecord, items: list[ReturnItem], now: datetime, policy: ReturnPolicy
) -> list[ReturnedProduct] | Refusal:
    """The products of a new return, or why it may not be opened."""
    if not is_open_for_returns(record, now, policy):
        if record.status is not OrderStatus.DELIVERED:
            return Refusal(RefusalKind.NOT_ALLOWED, f"an order in status {record.status} cannot be returned")
        return Refusal(RefusalKind.UNPROCESSABLE, "the return window of this order has closed")
    known_reasons = {reason.code for reason in policy.reasons}
    products = {p.id: p for p in record.products}
    available = returnable_quantities(record, now, policy)
    requested: Counter[str] = Counter()
    for index, item in enumerate(items):
        field = f"products[{index}]"
        if item.id not in products:
            return Refusal(RefusalKind.UNPROCESSABLE, f"product {item.id!r} is not in this order", f"{field}.id")
        if item.reason not in known_reasons:
            return Refusal(RefusalKind.UNPROCESSABLE, f"unknown return reason {item.reason!r}", f"{field}.reason")
        requested[item.id] += item.quantity
        if requested[item.id] > available[item.id]:
            return Refusal(
                RefusalKind.UNPROCESSABLE,
                f"product {item.id!r}: {requested[item.id]} requested, {available[item.id]} returnable",
                f"{field}.quantity",
            )
    return [
        ReturnedProduct.model_validate(
            {**products[item.id].model_dump(), "quantity": item.quantity, "reason": item.reason}
        )
        for item in items
    ]


def returns_view(record: OrderRecord, now: datetime, policy: ReturnPolicy) -> ReturnsView:
    """The ``returns`` object of GET: what can be returned, with which reasons, and the
    returns opened so far."""
    quantities = returnable_quantities(record, now, policy)
    reasons = [ReturnableReasonView(code=r.code, label=r.label) for r in policy.reasons]
    return ReturnsView(
        returnable_products=[
            ReturnableProduct.model_validate(
                {**p.model_dump(), "returnable_quantity": quantities[p.id], "returnable_reasons": reasons}
            )
            for p in record.products
        ],
        returns=record.returns,
    )
