"""Turning a create command and the checkout it names into an order (pending or failed)."""

from datetime import datetime

from schemas.checkout import Checkout, CheckoutStatus
from schemas.commands import OrderCreateCommand
from schemas.order import Delivery, OrderRecord, OrderStatus


def creation_status(command: OrderCreateCommand, checkout: Checkout | None, ordered_by: str | None) -> OrderStatus:
    """The status a new order starts in. ``ordered_by`` is the order the checkout was
    already turned into, if any. Another merchant's checkout counts as not found."""
    if checkout is None or checkout.merchant_id != command.merchant_id:
        return OrderStatus.CHECKOUT_NOT_FOUND
    if ordered_by is not None and ordered_by != command.order_id:
        return OrderStatus.CHECKOUT_ALREADY_ORDERED
    if checkout.status is CheckoutStatus.EXPIRED:
        return OrderStatus.CHECKOUT_EXPIRED
    if checkout.status is not CheckoutStatus.PAID:
        return OrderStatus.CHECKOUT_NOT_PAID
    return OrderStatus.CREATED


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


def supersedes(stored: Checkout | None, incoming: Checkout) -> bool:
    """Whether an incoming checkout event replaces the stored view: only a higher version
    does, and nothing moves an expired checkout back."""
    if stored is None:
        return True
    return stored.status is not CheckoutStatus.EXPIRED and incoming.version > stored.version
