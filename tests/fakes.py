"""In-memory fakes of the services' ports, with the semantics of their MongoDB and Kafka
adapters (insert-if-absent, version-conditional writes, readings that never go back), so
the use cases run in unit tests in milliseconds."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from schemas.api import WebhookAttemptView
from schemas.checkout import Checkout
from schemas.commands import OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderRecord
from schemas.storage.orders import CommandOutcome, ParkedCreate
from schemas.storage.webhooks import DeliveryState, WebhookDelivery
from schemas.webhook_commands import DeadLetterSelector
from services.domain.creation import supersedes
from services.domain.queries import OrderQuery
from services.domain.webhooks import AttemptResult
from services.ingress.commands import BrokerUnavailable
from services.ingress.idempotency_store import Reservation
from services.shared.merchant_store import Principal
from services.webhook_dispatcher.store import Outcomes


class FakeOrders:
    def __init__(self) -> None:
        self.stored: dict[str, tuple[OrderRecord, list[str], list[OrderEvent]]] = {}

    async def get_with_state(self, order_id: str) -> tuple[OrderRecord, list[str], list[OrderEvent]] | None:
        found = self.stored.get(order_id)
        return (found[0].model_copy(deep=True), list(found[1]), list(found[2])) if found else None

    async def insert(self, record: OrderRecord, event: OrderEvent, command_id: str) -> bool:
        if record.id in self.stored:
            return False
        self.stored[record.id] = (record.model_copy(deep=True), [command_id], [event])
        return True

    async def replace(
        self, previous_version: int, record: OrderRecord, event: OrderEvent, command_id: str, outbox_since: datetime
    ) -> bool:
        current = self.stored.get(record.id)
        if current is None or current[0].version != previous_version:
            return False
        self.stored[record.id] = (record.model_copy(deep=True), [*current[1], command_id], [*current[2], event])
        return True

    async def clear_outbox(self, order_id: str, version: int) -> bool:
        current = self.stored.get(order_id)
        if current is None or current[0].version != version:
            return False
        self.stored[order_id] = (current[0], current[1], [])
        return True

    async def with_unpublished_events(self, older_than: datetime, limit: int) -> list[str]:
        return [i for i, (_, _, outbox) in self.stored.items() if outbox and outbox[0].occurred_at <= older_than][
            :limit
        ]

    # the ingress's read side
    async def get(self, order_id: str, merchant_id: str | None) -> OrderRecord | None:
        found = self.stored.get(order_id)
        if found is None or (merchant_id is not None and found[0].merchant_id != merchant_id):
            return None
        return found[0]

    async def find(self, query: OrderQuery, merchant_id: str | None) -> tuple[list[OrderRecord], int]:
        records = [r for r, _, _ in self.stored.values() if merchant_id in (None, r.merchant_id)]
        return records[: query.page_size], len(records)


class FakeCheckouts:
    def __init__(self, *checkouts: Checkout) -> None:
        self.stored: dict[str, tuple[Checkout, str | None]] = {c.id: (c, None) for c in checkouts}

    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None:
        return self.stored.get(checkout_id)

    async def apply_many(self, incoming: list[Checkout]) -> list[Checkout]:
        taken = []
        for checkout in incoming:
            found = self.stored.get(checkout.id)
            if supersedes(found[0] if found else None, checkout):
                self.stored[checkout.id] = (checkout, found[1] if found else None)
                taken.append(checkout)
        return taken

    async def claim(self, checkout_id: str, order_id: str) -> str | None:
        found = self.stored.get(checkout_id)
        if found is None:
            return None
        if found[1] is None:
            self.stored[checkout_id] = (found[0], order_id)
        return self.stored[checkout_id][1]


class FakeParked:
    def __init__(self) -> None:
        self.parked: dict[str, ParkedCreate] = {}

    async def park(self, command: OrderCreateCommand, deadline: datetime, traceparent: str | None) -> None:
        self.parked.setdefault(
            command.order_id,
            ParkedCreate(checkout_id=command.checkout_id, deadline=deadline, command=command, traceparent=traceparent),
        )

    async def for_checkouts(self, checkout_ids: list[str]) -> list[OrderCreateCommand]:
        return [p.command for p in self.parked.values() if p.checkout_id in checkout_ids]

    async def due(self, clock: datetime, limit: int = 100) -> list[ParkedCreate]:
        return [p for p in self.parked.values() if p.deadline <= clock][:limit]

    async def remove(self, order_id: str) -> None:
        self.parked.pop(order_id, None)


class FakeCommandLog:
    """The writer's command log and the ingress's claim on it, in one (as in MongoDB)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, tuple[CommandOutcome, str]] = {}

    async def take(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool:
        return self.outcomes.setdefault(command_id, ("taken", ""))[0] != "abandoned"

    async def abandon(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool:
        return self.outcomes.setdefault(command_id, ("abandoned", ""))[0] == "abandoned"

    async def record(self, command_id: str, outcome: CommandOutcome, detail: str, at: datetime) -> None:
        self.outcomes[command_id] = (outcome, detail)


@dataclass
class FakeIntakeClock:
    now: datetime | None = None

    async def clock(self) -> datetime | None:
        return self.now


@dataclass
class PublishedEvents:
    events: list[OrderEvent] = field(default_factory=list)

    async def __call__(self, event: OrderEvent) -> None:
        self.events.append(event)


class FakeDeliveryQueue:
    def __init__(self) -> None:
        self.deliveries: dict[str, WebhookDelivery] = {}
        self.attempts: list[WebhookAttemptView] = []

    async def add(self, deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
        new = []
        for delivery in deliveries:  # a unique _id: a second copy, even in one batch, is refused
            if delivery.id not in self.deliveries:
                self.deliveries[delivery.id] = delivery.model_copy()
                new.append(delivery)
        return new

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[WebhookDelivery]:
        due = [
            d
            for d in self.deliveries.values()
            if d.state is DeliveryState.PENDING and d.due_at <= now and d.lease_until <= now
        ][:limit]
        for delivery in due:
            delivery.lease_until = lease_until
        return [d.model_copy() for d in due]

    async def record_outcomes(self, outcomes: Outcomes) -> None:
        self.attempts += [WebhookAttemptView.model_validate(a.model_dump()) for a in outcomes.attempts]
        for _, delivery_id in outcomes.delivered:
            self.deliveries[delivery_id].state = DeliveryState.DELIVERED
        for _, delivery_id, due_at in outcomes.postponed:
            self.deliveries[delivery_id] = self.deliveries[delivery_id].model_copy(
                update={"due_at": due_at, "lease_until": datetime.min.replace(tzinfo=due_at.tzinfo)}
            )
        for delivery_id, fields in outcomes.rescheduled:
            self.deliveries[delivery_id] = WebhookDelivery.model_validate(
                self.deliveries[delivery_id].model_dump(by_alias=True) | fields
            )


class FakeSecrets:
    """Signing secrets; ``failures`` lookups fail first (a database blip)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures

    async def webhook_secrets(self, merchant_id: str) -> list[str]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database blinked")
        return ["whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]


class FakeSender:
    """Answers each URL with its scripted status codes in turn (the last one after that)."""

    def __init__(self, script: dict[str, list[int]] | None = None) -> None:
        self.script = script or {}
        self.sent: list[tuple[str, str]] = []

    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        self.sent.append((url, message_id))
        codes = self.script.get(url, [200])
        status = codes.pop(0) if len(codes) > 1 else codes[0]
        return AttemptResult(status, 1.0)


class FakeKeys:
    def __init__(self, principals: dict[str, Principal]) -> None:
        self.principals = principals

    async def principal(self, api_key: str) -> Principal | None:
        return self.principals.get(api_key)


class FakeIdempotency:
    def __init__(self) -> None:
        self.reserved: dict[str, Reservation] = {}

    async def get(self, record_id: str) -> Reservation | None:
        return self.reserved.get(record_id)

    async def reserve(self, record_id: str, order_id: str, fingerprint: str) -> Reservation:
        return self.reserved.setdefault(record_id, Reservation(order_id, fingerprint))


class FakeDeliveryReads:
    async def attempts(self, order_id: str, page: int, page_size: int) -> tuple[list[WebhookAttemptView], int]:
        return [], 0

    async def count_dead_letters(self, selector: DeadLetterSelector) -> int:
        return 3


class FakePublisher:
    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, str, BaseModel]] = []

    @property
    def connected(self) -> bool:
        return True

    async def send(self, message: BaseModel, topic: str, key: str) -> None:
        if self.fail:
            raise BrokerUnavailable("the message broker did not confirm the request in time")
        self.sent.append((topic, key, message))

    def on(self, topic: str) -> Iterable[BaseModel]:
        return [m for t, _, m in self.sent if t == topic]
