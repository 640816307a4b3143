"""What the order-writer's use cases need from the world, as small interfaces: MongoDB
adapters implement them in production (``store.py``, ``intake.py``), in-memory fakes in the
unit tests (``tests/fakes.py``)."""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from schemas.checkout import Checkout
from schemas.commands import OrderCommand, OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderRecord
from schemas.storage.orders import CommandOutcome, ParkedCreate

PublishEvents = Callable[[Sequence[tuple[OrderEvent, str | None]]], Awaitable[None]]
"""Publish events, each with the ``traceparent`` of its trace, in the order given (an
order's events in version order); returns once Kafka has them all."""
RequestRepublish = Callable[[Sequence[str]], Awaitable[None]]
"""Ask, on ``order.commands`` under each order's key, that these orders' outboxes be
published in their turn (``RepublishOutbox``); returns once Kafka has the requests."""
NewOrder = tuple[OrderRecord, OrderEvent, str]
"""A new order, its first event and the id of the command that made it."""


class Orders(Protocol):
    async def get_with_state(self, order_id: str) -> tuple[OrderRecord, list[str], list[OrderEvent]] | None: ...

    async def insert_many(self, new_orders: Sequence[NewOrder]) -> list[bool]:
        """For each new order, whether it was stored (False: it existed)."""
        ...

    async def replace(
        self, previous_version: int, record: OrderRecord, event: OrderEvent, command_id: str, outbox_since: datetime
    ) -> bool: ...

    async def clear_outbox(self, order_id: str, version: int) -> bool: ...

    async def with_unpublished_events(self, older_than: datetime, limit: int) -> list[str]: ...


class Checkouts(Protocol):
    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None: ...

    async def apply_many(self, incoming: list[Checkout]) -> list[Checkout]:
        """Take each checkout that supersedes the stored one; the ones taken."""
        ...

    async def claim_many(self, claims: Sequence[tuple[str, str]]) -> list[str]:
        """For each (checkout id, order id): the order holding the checkout after the claim."""
        ...


class PublishedCreations(Protocol):
    async def mark(self, order_ids: Sequence[str]) -> None:
        """These orders' creation events are in Kafka."""
        ...

    async def marked(self, order_id: str) -> bool: ...


class Parked(Protocol):
    async def park(self, command: OrderCreateCommand, deadline: datetime, traceparent: str | None) -> None: ...

    async def for_checkouts(self, checkout_ids: list[str]) -> list[OrderCreateCommand]: ...

    async def due(self, clock: datetime, limit: int = 100) -> list[ParkedCreate]: ...

    async def remove(self, order_id: str) -> None: ...


class Commands(Protocol):
    async def take_many(self, commands: Sequence[OrderCreateCommand | OrderCommand], at: datetime) -> list[bool]:
        """For each command, whether the writer has it (False: the ingress abandoned it)."""
        ...

    async def record(self, command_id: str, outcome: CommandOutcome, detail: str, at: datetime) -> None: ...


class IntakeClock(Protocol):
    async def clock(self) -> datetime | None:
        """Every checkout event produced before this moment has been read; None if unknown."""
        ...
