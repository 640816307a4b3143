"""Idempotency keys of order creation: key -> (order id, fingerprint of the body)."""

from dataclasses import dataclass

from schemas.base import utc_now
from services.shared.mongo import Database, GroupInsert, Indexes

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
        self._reservations = GroupInsert(self._keys)

    async def get(self, record_id: str) -> Reservation | None:
        document = await self._keys.find_one({"_id": record_id})
        return Reservation(document["orderId"], document["fingerprint"]) if document else None

    async def reserve(self, record_id: str, order_id: str, fingerprint: str) -> Reservation:
        """Reserve the key for ``order_id``; however many requests race, one reservation
        wins (a unique ``_id``) and every request gets that one back. Concurrent requests'
        reservations are written together (``GroupInsert``)."""
        document = {"_id": record_id, "orderId": order_id, "fingerprint": fingerprint, "createdAt": utc_now()}
        if await self._reservations.insert(document):
            return Reservation(order_id, fingerprint)
        existing = await self.get(record_id)
        if existing is None:  # pragma: no cover - keys are never deleted
            raise RuntimeError(f"the reservation {record_id} is gone")
        return existing
