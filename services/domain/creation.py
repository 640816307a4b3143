"""Turning a create command and the checkout it names into an order (pending or failed)."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from schemas.checkout import Checkout, CheckoutStatus
from schemas.commands import OrderCreateCommand
from schemas.order import Delivery, OrderRecord, OrderStatus

from .outcomes import Refusal, RefusalKind


def creation_status(
    merchant_id: str, order_id: str | None, checkout: Checkout | None, ordered_by: str | None
) -> OrderStatus:
    """The status a new order ``order_id`` of ``merchant_id`` starts in (``order_id`` None:
    an order not yet named, as at the ingress). ``ordered_by`` is the order the checkout was
    already turned into, if any. Another merchant's checkout counts as not found."""
    if checkout is None or checkout.merchant_id != merchant_id:
        return OrderStatus.CHECKOUT_NOT_FOUND
    if ordered_by is not None and ordered_by != order_id:
        return OrderStatus.CHECKOUT_ALREADY_ORDERED
    if checkout.status is CheckoutStatus.EXPIRED:
        return OrderStatus.CHECKOUT_EXPIRED
    if checkout.status is not CheckoutStatus.PAID:
        return OrderStatus.CHECKOUT_NOT_PAID
    return OrderStatus.CREATED


_REFUSALS = {
    OrderStatus.CHECKOUT_NOT_FOUND: (RefusalKind.NOT_FOUND, "no such checkout"),
    OrderStatus.CHECKOUT_ALREADY_ORDERED: (RefusalKind.NOT_ALLOWED, "this checkout was already turned into an order"),
    OrderStatus.CHECKOUT_EXPIRED: (RefusalKind.UNPROCESSABLE, "this checkout has expired"),
    OrderStatus.CHECKOUT_NOT_PAID: (RefusalKind.UNPROCESSABLE, "this checkout is not paid"),
}


def creation_refusal(status: OrderStatus) -> Refusal | None:
    """How a request is refused at once for a checkout that would make a failed order."""
    if status not in _REFUSALS:
        return None
    kind, detail = _REFUSALS[status]
    return Refusal(kind, detail, "checkoutId")


def build_order(
    command: OrderCreateCommand, checkout: Checkout | None, status: OrderStatus, now: datetime
) -> OrderRecord:
    """The order at version 1. It carries the checkout's contents only when it was created
    from it; a failed order never shows a checkout that was not the caller's."""
    from_checkout = checkout if status is OrderStatus.CREATED else None
    return OrderRecord(
        id=command.order_id,
        merchant_id=command.merchant_id,
        checkout_id=command.checkout_id,
        idempotency_key=command.idempotency_key,
        payment_reference=command.payment_reference,
        meta=command.meta,
        webhook_urls=command.webhook_urls,
        status=status,
        user_id=from_checkout.user_id if from_checkout else None,
        cart_id=from_checkout.cart_id if from_checkout else None,
        amount=from_checkout.amount if from_checkout else None,
        currency=from_checkout.currency if from_checkout else None,
        products=from_checkout.products if from_checkout else [],
        delivery=Delivery(address=from_checkout.address if from_checkout else None),
        created_at=now,
        updated_at=now,
        version=1,
    )


class CheckoutState(Protocol):
    """What ``supersedes`` compares of a stored checkout (a ``Checkout`` has it)."""

    @property
    def status(self) -> CheckoutStatus: ...

    @property
    def version(self) -> int: ...


def supersedes(stored: CheckoutState | None, incoming: Checkout) -> bool:
    """Whether an incoming checkout event replaces the stored view: only a higher version
    does, and nothing moves an expired checkout back."""
    if stored is None:
        return True
    return stored.status is not CheckoutStatus.EXPIRED and incoming.version > stored.version


def partition_read_through(caught_up: bool, sampled_at: datetime, newest_handled: datetime | None) -> datetime | None:
    """How far one partition of ``checkout.events`` has been read: up to the moment its end
    was sampled if everything before that end has been handled; otherwise up to the newest
    event handled (None if none was)."""
    return sampled_at if caught_up else newest_handled


def intake_clock(read_through: Mapping[int, datetime], partitions: int) -> datetime | None:
    """The moment before which every checkout event has been read: the slowest partition's.
    None until every partition has a reading (a partition never read holds the clock)."""
    if partitions < 1 or any(p not in read_through for p in range(partitions)):
        return None
    return min(read_through[p] for p in range(partitions))


def waits_until(command: OrderCreateCommand, grace: timedelta) -> datetime:
    """A create whose checkout is unknown (or open) is decided once the intake clock passes
    this: the service has read every checkout event produced up to the grace period after
    the request. A backlog on ``checkout.events`` holds the clock back, so it delays such
    orders and never fails them."""
    return command.requested_at + grace


def newest_checkouts(incoming: Iterable[Checkout]) -> list[Checkout]:
    """The checkouts a batch of events leaves, one per checkout, in first-seen order: each
    event applied in turn by ``supersedes`` (so a duplicate or an older version changes
    nothing, and an expired checkout stays expired)."""
    newest: dict[str, Checkout] = {}
    for checkout in incoming:
        if supersedes(newest.get(checkout.id), checkout):
            newest[checkout.id] = checkout
    return list(newest.values())
