"""The writer's own bookkeeping: create commands waiting for their checkout."""

import contextlib
from datetime import datetime

from pymongo.errors import DuplicateKeyError

from schemas.commands import OrderCreateCommand
from services.shared.mongo import PARKED_CREATES, Database


class ParkedCreates:
    """Create commands whose checkout is not known yet: kept until it arrives or the grace
    period ends, so that waiting for one checkout never holds up other commands."""

    def __init__(self, db: Database) -> None:
        self._parked = db[PARKED_CREATES]

    async def park(self, command: OrderCreateCommand, deadline: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):  # parked before: keep the first deadline
            await self._parked.insert_one(
                {
                    "_id": command.order_id,
                    "checkoutId": command.checkout_id,
                    "deadline": deadline,
                    "command": command.model_dump(mode="python"),
                }
            )

    async def for_checkout(self, checkout_id: str) -> list[OrderCreateCommand]:
        return [
            OrderCreateCommand.model_validate(d["command"])
            async for d in self._parked.find({"checkoutId": checkout_id})
        ]

    async def expired(self, now: datetime, limit: int = 100) -> list[OrderCreateCommand]:
        cursor = self._parked.find({"deadline": {"$lte": now}}).limit(limit)
        return [OrderCreateCommand.model_validate(d["command"]) async for d in cursor]

    async def remove(self, order_id: str) -> None:
        await self._parked.delete_one({"_id": order_id})
