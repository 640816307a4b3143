"""The dispatcher's use cases (fan an event out, attempt, retry, dead-letter) against
in-memory fakes of its queue, its signing secrets and its HTTP sender."""

from dataclasses import dataclass

from schemas.events import OrderEvent
from schemas.order import OrderStatus
from schemas.storage.webhooks import DeliveryState
from services.domain.events import event_for
from services.shared.settings import Settings
from services.webhook_dispatcher.breaker import CircuitBreakers
from services.webhook_dispatcher.service import Dispatcher
from tests.factories import NOW, order
from tests.fakes import FakeDeliveryQueue, FakeSecrets, FakeSender

A, B = "https://a.example.com/hook", "https://b.example.com/hook"


def settings(schedule: str = "0,0,0") -> Settings:
    return Settings.model_validate({"ORDERS_WEBHOOK_RETRY_SCHEDULE": schedule, "ORDERS_WEBHOOK_TIMEOUT_SECONDS": "1"})


def event(version: int, *urls: str) -> OrderEvent:
    record = order(OrderStatus.CREATED, version=version, webhook_urls=list(urls))
    return event_for(record, "order.status.updated", None, NOW)


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def settle(dispatcher: Dispatcher) -> None:
    """Wait until every attempt in flight has finished and its outcome is written."""
    await dispatcher.drain(timeout=5)


async def test_each_url_of_an_event_gets_one_signed_delivery() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender()
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings())
    first = event(1, A, B)
    await dispatcher.take_events([first, first])  # Kafka may deliver an event twice
    await settle(dispatcher)
    assert sorted(sender.sent) == [(A, first.id), (B, first.id)]
    assert {d.state for d in queue.deliveries.values()} == {DeliveryState.DELIVERED}
    assert [(a.url, a.attempt, a.outcome) for a in sorted(queue.attempts, key=lambda a: a.url)] == [
        (A, 1, "delivered"),
        (B, 1, "delivered"),
    ]


async def test_a_failing_url_is_retried_on_schedule_then_dead_lettered_alone() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500]})
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0"))
    await dispatcher.take_events([event(1, A, B)])
    await settle(dispatcher)
    while await dispatcher.take_due():  # each retry is due at once with this schedule
        await settle(dispatcher)
    states = {d.url: (d.state, d.attempts) for d in queue.deliveries.values()}
    assert states == {A: (DeliveryState.DEAD, 2), B: (DeliveryState.DELIVERED, 0)}
    assert [a.outcome for a in queue.attempts if a.url == A] == ["failed", "failed"]


async def test_a_probe_lost_to_a_database_error_does_not_silence_the_url() -> None:
    """Item 8 of the hardening issue: the circuit of A is open; its probe fails before it
    has a result (the signing secrets cannot be read). Once the probe is overdue, A is
    tried again and delivered, instead of being postponed for ever."""
    clock = Clock()
    queue, sender, secrets = FakeDeliveryQueue(), FakeSender({A: [500, 200]}), FakeSecrets()
    breakers = CircuitBreakers(failure_threshold=1, cooldown_seconds=30, clock=clock)
    dispatcher = Dispatcher(queue, secrets, sender, settings(), breakers)

    await dispatcher.take_events([event(1, A)])  # fails: the circuit opens
    await settle(dispatcher)
    clock.now = 30
    secrets.failures = 1
    await dispatcher.take_events([event(2, A)])  # the probe: lost to the database error
    await settle(dispatcher)
    assert [version for url, version in _sent(sender, queue) if url == A] == [1]

    clock.now = 60
    third = event(3, A)
    await dispatcher.take_events([third])
    await settle(dispatcher)
    assert (A, third.id) in sender.sent
    assert queue.deliveries[next(d for d in queue.deliveries if d.startswith(third.id))].state is (
        DeliveryState.DELIVERED
    )


def _sent(sender: FakeSender, queue: FakeDeliveryQueue) -> list[tuple[str, int]]:
    versions = {d.event_id: d.version for d in queue.deliveries.values()}
    return [(url, versions[event_id]) for url, event_id in sender.sent]
