"""Idempotency keys of order creation: key -> (order id, fingerprint of the body)."""

from dataclasses import dataclass

from pymongo.errors import DuplicateKeyError

from schemas.base import utc_now
from services.shared.mongo import Database, Indexes

IDEMPOTENCY_KEYS = "idempotency_keys"


@dataclass(frozen=True)
class Reservation:
    order_id: str
    fingerprint: str


class IdempotencyStore:
    """The ingress's own collection: key (hashed with the merchant) -> order id and body fingerprint."""

    INDEXES: Indexes = {IDEMPOTENCY_KEYS: []}

    def __init__(self, db: Database) -> None:
        self._keys = db[IDEMPOTENCY_KEYS]

    async def get(self, record_id: str) -> Reservation | None:
        document = await self._keys.find_one({"_id": record_id})
        return Reservation(document["orderId"], document["fingerprint"]) if document else None

    async def reserve(self, record_id: str, order_id: str, fingerprint: str) -> Reservation:
        """Reserve the key for ``order_id``; however many requests race, one reservation
        wins (a unique ``_id``) and every request gets that one back."""
        try:
            await self._keys.insert_one(
                {"_id": record_id, "orderId": order_id, "fingerprint": fingerprint, "createdAt": utc_now()}
            )
        except DuplicateKeyError:
            existing = await self.get(record_id)
            if existing is None:  # pragma: no cover - keys are never deleted
                raise
            return existing
        return Reservation(order_id, fingerprint)
