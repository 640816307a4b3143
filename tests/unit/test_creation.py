"""Which status a new order starts in, what it is built from, and the checkout view rule."""

import pytest

from schemas.checkout import CheckoutStatus
from schemas.order import OrderStatus
from services.domain.creation import build_order, creation_status, newest_checkouts, supersedes
from tests.factories import NOW, checkout, create_command


@pytest.mark.parametrize(
    ("found", "ordered_by", "expected"),
    [
        (checkout(CheckoutStatus.PAID), None, OrderStatus.CREATED),
        (checkout(CheckoutStatus.PAID), "o1", OrderStatus.CREATED),
        (checkout(CheckoutStatus.PAID), "other", OrderStatus.CHECKOUT_ALREADY_ORDERED),
        (checkout(CheckoutStatus.OPEN), None, OrderStatus.CHECKOUT_NOT_PAID),
        (checkout(CheckoutStatus.EXPIRED), None, OrderStatus.CHECKOUT_EXPIRED),
        (checkout(CheckoutStatus.PAID, merchant_id="m2"), None, OrderStatus.CHECKOUT_NOT_FOUND),
        (None, None, OrderStatus.CHECKOUT_NOT_FOUND),
    ],
)
def test_creation_status(found: object, ordered_by: str | None, expected: OrderStatus) -> None:
    command = create_command()
    assert creation_status(command.merchant_id, command.order_id, found, ordered_by) is expected  # type: ignore[arg-type]


def test_an_order_is_built_from_its_checkout() -> None:
    record = build_order(create_command(), checkout(), OrderStatus.CREATED, NOW)
    source = checkout()
    assert (record.user_id, record.cart_id, record.amount, record.currency) == ("u1", "cart1", 4500, "EGP")
    assert record.products == source.products
    assert record.delivery.address == source.address
    assert record.meta == {"source": "app"}
    assert (record.status, record.version, record.created_at) == (OrderStatus.CREATED, 1, NOW)


def test_a_failed_order_shows_nothing_of_a_checkout_it_was_not_made_from() -> None:
    foreign = checkout(merchant_id="m2")
    record = build_order(create_command(), foreign, OrderStatus.CHECKOUT_NOT_FOUND, NOW)
    assert (record.user_id, record.amount, record.products, record.delivery.address) == (None, None, [], None)


@pytest.mark.parametrize(
    ("stored", "incoming", "expected"),
    [
        (None, checkout(version=1), True),
        (checkout(version=1), checkout(version=2), True),
        (checkout(version=2), checkout(version=2), False),
        (checkout(version=3), checkout(version=2), False),
        (checkout(CheckoutStatus.EXPIRED, version=3), checkout(CheckoutStatus.PAID, version=4), False),
    ],
)
def test_only_a_newer_version_supersedes_and_expiry_is_final(stored: object, incoming: object, expected: bool) -> None:
    assert supersedes(stored, incoming) is expected  # type: ignore[arg-type]


def test_a_batch_of_checkout_events_leaves_the_newest_of_each() -> None:
    paid = checkout(CheckoutStatus.PAID, version=2)
    expired = checkout(CheckoutStatus.EXPIRED, version=3)
    other = checkout(CheckoutStatus.OPEN).model_copy(update={"id": "c2"})
    events = [checkout(CheckoutStatus.OPEN), other, paid, checkout(CheckoutStatus.OPEN, version=1), expired]
    assert newest_checkouts(events) == [expired, other]
    revived = checkout(CheckoutStatus.PAID, version=4)
    assert newest_checkouts([expired, revived]) == [expired]  # expired is final
