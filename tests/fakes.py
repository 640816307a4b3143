"""In-memory fakes of the services' ports, with the semantics of their MongoDB and Kafka
adapters (insert-if-absent, version-conditional writes, readings that never go back), so
the use cases run in unit tests in milliseconds."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from schemas.api import EndpointAttemptOutcome, EndpointAttemptView, WebhookAttemptView
from schemas.checkout import Checkout
from schemas.commands import OrderCommand, OrderCreateCommand
from schemas.endpoint_events import WebhookEndpointDisabled
from schemas.events import OrderEvent
from schemas.order import OrderRecord
from schemas.storage.endpoints import EndpointHealthDocument, EndpointSecret, WebhookEndpointDocument
from schemas.storage.orders import CommandOutcome, ParkedCreate
from schemas.storage.webhooks import DeliveryState, WebhookAttempt, WebhookDelivery
from schemas.webhook_commands import DeadLetterSelector, RecoverDeliveries
from services.domain.creation import supersedes
from services.domain.endpoints import MAX_ENDPOINTS_PER_MERCHANT, rotated
from services.domain.merchants import new_webhook_secret
from services.domain.queries import OrderQuery
from services.domain.webhooks import AttemptResult
from services.ingress.commands import BrokerUnavailable
from services.ingress.endpoint_store import TooManyEndpoints
from services.ingress.idempotency_store import Reservation
from services.order_writer.ports import NewOrder
from services.shared.merchant_store import Principal
from services.webhook_dispatcher.ports import Endpoints
from services.webhook_dispatcher.store import Outcomes


class FakeOrders:
    def __init__(self) -> None:
        self.stored: dict[str, tuple[OrderRecord, list[str], list[OrderEvent]]] = {}

    async def get_with_state(self, order_id: str) -> tuple[OrderRecord, list[str], list[OrderEvent]] | None:
        found = self.stored.get(order_id)
        return (found[0].model_copy(deep=True), list(found[1]), list(found[2])) if found else None

    async def insert_many(self, new_orders: Sequence[NewOrder]) -> list[bool]:
        stored = []
        for record, event, command_id in new_orders:
            stored.append(record.id not in self.stored)
            self.stored.setdefault(record.id, (record.model_copy(deep=True), [command_id], [event]))
        return stored

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

    async def stream(
        self, query: OrderQuery, merchant_id: str | None, start: datetime, end: datetime
    ) -> AsyncIterator[OrderRecord]:
        """The scope and the range (the unit tests give no filters)."""
        found = [r for r, _, _ in self.stored.values() if merchant_id in (None, r.merchant_id)]
        for record in sorted(found, key=lambda r: (r.created_at, r.id)):
            if start <= record.created_at < end:
                yield record

    async def earliest(self, query: OrderQuery, merchant_id: str | None) -> datetime | None:
        found = [r.created_at for r, _, _ in self.stored.values() if merchant_id in (None, r.merchant_id)]
        return min(found, default=None)


class FakeCheckouts:
    def __init__(self, *checkouts: Checkout) -> None:
        self.stored: dict[str, Checkout] = {c.id: c for c in checkouts}
        self.claims: dict[str, str] = {}
        self.reads = 0

    async def apply_many(self, incoming: list[Checkout]) -> list[Checkout]:
        taken = []
        for checkout in incoming:
            if supersedes(self.stored.get(checkout.id), checkout):
                self.stored[checkout.id] = checkout
                taken.append(checkout)
        return taken

    async def claim_many(self, claims: Sequence[tuple[str, str]]) -> list[str]:
        """Claims live beside the checkouts, as in MongoDB: a claim needs no checkout."""
        return [self.claims.setdefault(checkout_id, order_id) for checkout_id, order_id in claims]

    async def get(self, checkout_id: str) -> tuple[Checkout, str | None] | None:
        self.reads += 1
        found = self.stored.get(checkout_id)
        return (found, self.claims.get(checkout_id)) if found else None


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

    async def take_many(self, commands: Sequence[OrderCreateCommand | OrderCommand], at: datetime) -> list[bool]:
        return [self.outcomes.setdefault(c.command_id, ("taken", ""))[0] != "abandoned" for c in commands]

    async def abandon(self, command_id: str, order_id: str, command_type: str, at: datetime) -> bool:
        return self.outcomes.setdefault(command_id, ("abandoned", ""))[0] == "abandoned"

    async def record(self, command_id: str, outcome: CommandOutcome, detail: str, at: datetime) -> None:
        self.outcomes[command_id] = (outcome, detail)


@dataclass
class FakeCreationMarks:
    marks: set[str] = field(default_factory=set)

    async def mark(self, order_ids: Sequence[str]) -> None:
        self.marks.update(order_ids)

    async def marked(self, order_id: str) -> bool:
        return order_id in self.marks


@dataclass
class FakeIntakeClock:
    now: datetime | None = None

    async def clock(self) -> datetime | None:
        return self.now


@dataclass
class PublishedEvents:
    events: list[OrderEvent] = field(default_factory=list)

    async def __call__(self, events: Sequence[tuple[OrderEvent, str | None]]) -> None:
        self.events.extend(event for event, _ in events)


class FakeDeliveryQueue:
    """The queue and the history; ``failures`` writes of outcomes fail first."""

    def __init__(self) -> None:
        self.deliveries: dict[str, WebhookDelivery] = {}
        self.attempts: list[WebhookAttempt] = []
        self.failures = 0
        self.added: list[list[str]] = []
        """The URLs of each write of new deliveries to the queue, in order."""

    async def add(self, deliveries: list[WebhookDelivery]) -> None:
        self.added.append([d.url for d in deliveries])
        for delivery in deliveries:  # a unique _id: a second copy, even in one batch, is refused
            self.deliveries.setdefault(delivery.id, delivery.model_copy())

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
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the database blinked")
        self.attempts += [a.model_copy() for a in outcomes.attempts]
        for delivery in outcomes.queued:
            self.deliveries.setdefault(delivery.id, delivery.model_copy())
        for _, delivery_id in outcomes.delivered:
            self.deliveries[delivery_id].state = DeliveryState.DELIVERED
        for _, delivery_id in outcomes.dropped:
            del self.deliveries[delivery_id]
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
        self.secrets: dict[tuple[str, str], tuple[str, ...]] = {}
        self.times: list[tuple[str, float]] = []

    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        self.sent.append((url, message_id))
        self.secrets[url, message_id] = tuple(secrets)
        self.times.append((url, asyncio.get_running_loop().time()))
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
        self.reads = 0

    async def get(self, record_id: str) -> Reservation | None:
        self.reads += 1
        return self.reserved.get(record_id)

    async def reserve(self, record_id: str, order_id: str, fingerprint: str) -> Reservation:
        return self.reserved.setdefault(record_id, Reservation(order_id, fingerprint))


class FakeDeliveryReads:
    async def attempts(self, order_id: str, page: int, page_size: int) -> tuple[list[WebhookAttemptView], int]:
        return [], 0

    async def count_dead_letters(self, selector: DeadLetterSelector) -> int:
        return 3

    async def count_recoverable(self, command: RecoverDeliveries) -> int:
        return 0 if command.event_id == "nothing-failed" else 2

    async def endpoint_attempts(
        self, endpoint_id: str, outcome: EndpointAttemptOutcome | None, page: int, page_size: int
    ) -> tuple[list[EndpointAttemptView], int]:
        return [], 0


class FakeEndpointRegistry:
    """The ingress's endpoint collection, in memory, with the same limit of 20 a merchant."""

    def __init__(self) -> None:
        self.endpoints: dict[str, WebhookEndpointDocument] = {}

    async def create(self, merchant_id: str, fields: dict[str, Any], now: datetime) -> WebhookEndpointDocument:
        if len(await self.of_merchant(merchant_id)) >= MAX_ENDPOINTS_PER_MERCHANT:
            raise TooManyEndpoints("at most 20")
        endpoint = WebhookEndpointDocument.model_validate(
            fields
            | {
                "id": str(uuid.uuid4()),
                "merchant_id": merchant_id,
                "enabled_at": now,
                "created_at": now,
                "secrets": [EndpointSecret(secret=new_webhook_secret())],
            }
        )
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    async def of_merchant(self, merchant_id: str) -> list[WebhookEndpointDocument]:
        return [e for e in self.endpoints.values() if e.merchant_id == merchant_id]

    async def get(self, endpoint_id: str) -> WebhookEndpointDocument | None:
        return self.endpoints.get(endpoint_id)

    async def update(self, endpoint: WebhookEndpointDocument, changes: dict[str, Any]) -> WebhookEndpointDocument:
        self.endpoints[endpoint.id] = endpoint.model_copy(update=changes)
        return self.endpoints[endpoint.id]

    async def delete(self, endpoint_id: str, merchant_id: str) -> bool:
        return self.endpoints.pop(endpoint_id, None) is not None

    async def rotate_secret(self, endpoint: WebhookEndpointDocument, now: datetime) -> str:
        secret = new_webhook_secret()
        self.endpoints[endpoint.id] = endpoint.model_copy(update={"secrets": rotated(endpoint.secrets, secret, now)})
        return secret


class FakeEndpointHealthReads:
    def __init__(self) -> None:
        self.disabled: dict[str, datetime] = {}

    async def disabled_at(self, endpoint_id: str) -> datetime | None:
        return self.disabled.get(endpoint_id)


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
        # As a consumer reads it: a message its own model would refuse fails the test here.
        self.sent.append((topic, key, type(message).model_validate_json(message.model_dump_json())))

    def on(self, topic: str) -> Iterable[BaseModel]:
        return [m for t, _, m in self.sent if t == topic]


class FakeEndpointDirectory:
    def __init__(self, *endpoints: WebhookEndpointDocument) -> None:
        self.endpoints = {e.id: e for e in endpoints}
        self.gets = 0

    async def of_merchant(self, merchant_id: str) -> list[WebhookEndpointDocument]:
        return [e for e in self.endpoints.values() if e.merchant_id == merchant_id]

    async def get(self, endpoint_id: str) -> WebhookEndpointDocument | None:
        self.gets += 1
        return self.endpoints.get(endpoint_id)


class FakeEndpointHealth:
    def __init__(self) -> None:
        self.health: dict[str, EndpointHealthDocument] = {}
        self.writes = 0

    async def get(self, endpoint_id: str) -> EndpointHealthDocument | None:
        return self.health.get(endpoint_id)

    async def failing(self, endpoint_id: str, at: datetime) -> datetime:
        self.writes += 1
        found = self.health.setdefault(endpoint_id, EndpointHealthDocument(endpoint_id=endpoint_id))
        found.failing_since = min(found.failing_since or at, at)
        return found.failing_since

    async def succeeded(self, endpoint_id: str) -> None:
        self.writes += 1
        if endpoint_id in self.health:
            self.health[endpoint_id].failing_since = None

    async def disable(self, endpoint_id: str, at: datetime, enabled_at: datetime) -> bool:
        self.writes += 1
        found = self.health[endpoint_id]
        if found.disabled_at is not None and found.disabled_at >= enabled_at:
            return False
        found.disabled_at = at
        return True


def fake_endpoints(*endpoints: WebhookEndpointDocument) -> tuple[Endpoints, list[WebhookEndpointDisabled]]:
    """Endpoints over in-memory fakes, and the list the announcements go to."""
    announced: list[WebhookEndpointDisabled] = []

    async def announce(event: WebhookEndpointDisabled) -> None:
        announced.append(event)

    return Endpoints(FakeEndpointDirectory(*endpoints), FakeEndpointHealth(), announce), announced
