"""Who has a command: the one write another service makes to the writer's data.

A 503 from the ingress must mean "no effect", yet a publish that Kafka did not confirm in
time may still have arrived. So both parties insert the command's id into the writer's
command log: the writer when it *takes* a command, the ingress when it *abandons* one
before answering 503. A unique ``_id`` lets exactly one of them win, which no message
through Kafka can decide while Kafka is the thing that is down. The ingress does nothing
else here: it inserts one ``abandoned`` claim and reads who won (docs/design.md)."""

from collections.abc import Sequence
from datetime import datetime

from schemas.storage.orders import COMMAND_LOG, CommandOutcome, CommandRecord
from services.shared.mongo import Database, insert_new


class CommandClaims:
    def __init__(self, db: Database) -> None:
        self._log = db[COMMAND_LOG]

    async def abandon(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool:
        """After a failed publish: make sure the command never takes effect. False if the
        writer took it already, which means it reached Kafka."""
        return await self._claim(command_id, order_id, command_type, "abandoned", at) or (
            await self._outcome(command_id) == "abandoned"
        )

    async def _claim(
        self, command_id: str, order_id: str, command_type: str, outcome: CommandOutcome, at: datetime
    ) -> bool:
        [claimed] = await self._claim_many([(command_id, order_id, command_type)], outcome, at)
        return claimed

    async def _claim_many(
        self, commands: Sequence[tuple[str, str, str]], outcome: CommandOutcome, at: datetime
    ) -> list[bool]:
        """Insert a claim for each (command id, order id, type) with one bulk command; for
        each, whether this claim was the first."""
        return await insert_new(
            self._log,
            [
                {
                    "_id": command_id,
                    **CommandRecord(order_id=order_id, type=kind, outcome=outcome, at=at).model_dump(mode="python"),
                }
                for command_id, order_id, kind in commands
            ],
        )

    async def _outcome(self, command_id: str) -> str | None:
        document = await self._log.find_one({"_id": command_id}, {"outcome": 1})
        return document["outcome"] if document else None
