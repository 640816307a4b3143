"""Every command's outcome, and who took it. The writer *takes* a command before acting on
it; the ingress *abandons* one whose publish failed before answering 503. Both insert the
same ``_id``, so exactly one of them wins: a command answered with 503 never takes effect, and
one the writer took did reach Kafka, so the ingress answers success after all."""

from datetime import datetime
from typing import Literal

from pymongo.errors import DuplicateKeyError

from .mongo import COMMAND_LOG, Database

Outcome = Literal["taken", "applied", "refused", "abandoned"]


class CommandLog:
    def __init__(self, db: Database) -> None:
        self._log = db[COMMAND_LOG]

    async def take(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool:
        """Claim a command for the writer; False if the ingress abandoned it."""
        return await self._claim(command_id, order_id, command_type, "taken", at) or (
            await self._outcome(command_id) != "abandoned"
        )

    async def abandon(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool:
        """After a failed publish: make sure the command never takes effect. False if the
        writer took it already, which means it reached Kafka."""
        return await self._claim(command_id, order_id, command_type, "abandoned", at) or (
            await self._outcome(command_id) == "abandoned"
        )

    async def record(self, command_id: str, outcome: Outcome, detail: str, at: datetime) -> None:
        await self._log.update_one({"_id": command_id}, {"$set": {"outcome": outcome, "detail": detail, "at": at}})

    async def _claim(self, command_id: str, order_id: str, command_type: str, outcome: Outcome, at: datetime) -> bool:
        try:
            await self._log.insert_one(
                {
                    "_id": command_id,
                    "orderId": order_id,
                    "type": command_type,
                    "outcome": outcome,
                    "detail": "",
                    "at": at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def _outcome(self, command_id: str) -> str | None:
        document = await self._log.find_one({"_id": command_id}, {"outcome": 1})
        return document["outcome"] if document else None
