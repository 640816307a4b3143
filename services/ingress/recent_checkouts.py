"""The checkouts this ingress process has seen on ``checkout.events`` since it started, so
that a create for a paid checkout needs no read of the writer's view.

Only a fast path: a checkout it has not seen (it came before the process started, or was
forgotten to stay within ``capacity``), one it saw in another state than paid, or one this
process has already sent an order for, is read from the view as before. Its events are
applied by the writer's own rule (``supersedes``), so it never holds a state the view would
not have held. It may lag the view or run ahead of it by the two consumers' distance; the
view read has the same race with the writer's intake, and the writer's claim still decides
whether the checkout was already ordered."""

from collections import OrderedDict
from dataclasses import dataclass

from schemas.checkout import Checkout, CheckoutStatus
from services.domain.creation import supersedes


@dataclass(frozen=True, slots=True)
class _Seen:
    version: int
    status: CheckoutStatus
    merchant_id: str
    paid: bytes | None
    """A paid checkout as JSON (about 0.6 KiB, against some 5 KiB as a model)."""


class RecentCheckouts:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, _Seen] = OrderedDict()
        self._sent: set[str] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def take(self, checkouts: list[Checkout]) -> None:
        """Apply a batch of events' checkouts, in the order they came; forget the least
        recently changed beyond ``capacity``."""
        for checkout in checkouts:
            seen = self._seen.get(checkout.id)
            if not supersedes(seen, checkout):
                continue
            paid = checkout.model_dump_json().encode() if checkout.status is CheckoutStatus.PAID else None
            self._seen[checkout.id] = _Seen(checkout.version, checkout.status, checkout.merchant_id, paid)
            self._seen.move_to_end(checkout.id)
        while len(self._seen) > self.capacity:
            forgotten, _ = self._seen.popitem(last=False)
            self._sent.discard(forgotten)

    def paid(self, checkout_id: str, merchant_id: str) -> Checkout | None:
        """The checkout, if it is known here as paid and ``merchant_id``'s, and no order was
        sent for it from here; None means "ask the view"."""
        seen = self._seen.get(checkout_id)
        if seen is None or seen.paid is None or seen.merchant_id != merchant_id or checkout_id in self._sent:
            return None
        return Checkout.model_validate_json(seen.paid)

    def sent(self, checkout_id: str) -> None:
        """An order for this checkout is in Kafka: a later request for it asks the view,
        which knows whether that order claimed it."""
        if checkout_id in self._seen:
            self._sent.add(checkout_id)
