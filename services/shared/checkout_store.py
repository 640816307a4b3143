"""The order-writer's view of checkouts (from ``checkout.events``), which the ingress reads."""

from typing import Any

from pymongo.errors import DuplicateKeyError

from schemas.checkout import Checkout
from services.domain.creation import supersedes

from .mongo import CHECKOUTS, Database

ORDERED_BY = "orderedBy"
"""The id of the order a checkout was turned into; set once, by the writer's claim."""


class CheckoutStore:
    def __init__(self, db: Database) -> None:
        self._checkouts = db[CHECKOUTS]

    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None:
        """The checkout and the order it was turned into, if any."""
        document = await self._checkouts.find_one({"_id": checkout_id})
        if document is None:
            return None
        return Checkout.model_validate(document["checkout"]), document.get(ORDERED_BY)

    async def apply(self, incoming: Checkout) -> bool:
        """Take an event's checkout if it supersedes the stored one (see ``supersedes``).
        Events of one checkout arrive in order on one partition, but the claim below may
        write the same document, so the update is conditional on what was read."""
        while True:
            found = await self.get(incoming.id)
            stored = found[0] if found else None
            if not supersedes(stored, incoming):
                return False
            body: dict[str, Any] = {"checkout": incoming.model_dump(mode="python"), "version": incoming.version}
            if stored is None:
                try:
                    await self._checkouts.insert_one({"_id": incoming.id, **body})
                except DuplicateKeyError:
                    continue
                return True
            result = await self._checkouts.update_one({"_id": incoming.id, "version": stored.version}, {"$set": body})
            if result.matched_count:
                return True

    async def claim(self, checkout_id: str, order_id: str) -> str | None:
        """Mark the checkout as turned into ``order_id`` unless another order has it.
        Returns the order that holds it (``order_id`` itself when the claim succeeded or
        had succeeded before), or None when the checkout is unknown."""
        await self._checkouts.update_one({"_id": checkout_id, ORDERED_BY: None}, {"$set": {ORDERED_BY: order_id}})
        document = await self._checkouts.find_one({"_id": checkout_id}, {ORDERED_BY: 1})
        return document.get(ORDERED_BY) if document else None
