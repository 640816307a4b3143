"""The ingress's memory of checkouts: the writer's ``supersedes`` rule, bounded, and a fast
path only (None means "ask the view")."""

from schemas.checkout import CheckoutStatus
from services.ingress.recent_checkouts import RecentCheckouts
from tests.factories import checkout


def test_a_paid_checkout_is_given_to_its_merchant_only() -> None:
    recent = RecentCheckouts(capacity=10)
    paid = checkout(CheckoutStatus.PAID)
    recent.take([paid])
    assert recent.paid("c1", "m1") == paid
    assert recent.paid("c1", "m2") is None
    assert recent.paid("c2", "m1") is None


def test_events_apply_by_the_writers_rule() -> None:
    recent = RecentCheckouts(capacity=10)
    recent.take([checkout(CheckoutStatus.OPEN, version=1), checkout(CheckoutStatus.PAID, version=2)])
    assert recent.paid("c1", "m1") is not None
    recent.take([checkout(CheckoutStatus.OPEN, version=1)])  # an older event, late: changes nothing
    assert recent.paid("c1", "m1") is not None
    recent.take([checkout(CheckoutStatus.EXPIRED, version=3), checkout(CheckoutStatus.PAID, version=4)])
    assert recent.paid("c1", "m1") is None  # nothing moves an expired checkout back


def test_once_an_order_was_sent_for_a_checkout_the_view_is_asked() -> None:
    recent = RecentCheckouts(capacity=10)
    recent.take([checkout(CheckoutStatus.PAID)])
    recent.sent("c1")
    assert recent.paid("c1", "m1") is None


def test_the_least_recently_changed_are_forgotten_beyond_capacity() -> None:
    recent = RecentCheckouts(capacity=2)
    first, second, third = (checkout(CheckoutStatus.PAID).model_copy(update={"id": i}) for i in ("a", "b", "c"))
    recent.take([first, second])
    recent.take([first.model_copy(update={"version": 2})])  # "a" changed after "b"
    recent.take([third])
    assert len(recent) == 2
    assert [recent.paid(i, "m1") is not None for i in ("a", "b", "c")] == [True, False, True]
