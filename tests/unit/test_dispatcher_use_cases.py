"""The dispatcher's use cases (fan an event out, attempt, retry, dead-letter) against
in-memory fakes of its queue, its signing secrets and its HTTP sender."""

import asyncio
import itertools
from dataclasses import dataclass
from datetime import timedelta

from schemas.events import OrderEvent
from schemas.order import OrderStatus
from schemas.storage.webhooks import DeliveryState
from services.domain.events import event_for
from services.shared.settings import Settings
from services.webhook_dispatcher.breaker import CircuitBreakers
from services.webhook_dispatcher.service import Dispatcher
from tests.factories import ENDPOINT_SECRET, NOW, order, webhook_endpoint
from tests.fakes import (
    FakeDeliveryQueue,
    FakeEndpointDirectory,
    FakeEndpointHealth,
    FakeSecrets,
    FakeSender,
    fake_endpoints,
)

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
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings(), fake_endpoints()[0])
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
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0"), fake_endpoints()[0])
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
    dispatcher = Dispatcher(queue, secrets, sender, settings(), fake_endpoints()[0], breakers)

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


# --- merchants' webhook endpoints ------------------------------------------------------


async def test_every_matching_endpoint_gets_the_event_once_signed_with_its_own_secret() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender()
    endpoints, _ = fake_endpoints(
        webhook_endpoint(A),  # also an order URL: one delivery, the endpoint's
        webhook_endpoint(B, statuses=["success"]),  # does not match pending.created
        webhook_endpoint("https://c.example.com/hook", statuses=["pending"], event_types=["order.status.updated"]),
        webhook_endpoint("https://other.example.com/hook", merchant_id="m2"),
    )
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings(), endpoints)
    first = event(1, A)
    await dispatcher.take_events([first])
    await settle(dispatcher)
    assert sorted(sender.sent) == [(A, first.id), ("https://c.example.com/hook", first.id)]
    assert {d.url: d.endpoint_id for d in queue.deliveries.values()} == {
        A: f"ep-{A}",
        "https://c.example.com/hook": "ep-https://c.example.com/hook",
    }
    assert set(sender.secrets.values()) == {(ENDPOINT_SECRET,)}


async def test_a_disable_a_filter_change_or_a_delete_stops_what_was_not_attempted_yet() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500]})
    endpoints, _ = fake_endpoints(
        webhook_endpoint(A), webhook_endpoint(B), webhook_endpoint("https://c.example.com/hook")
    )
    directory = endpoints.directory
    assert isinstance(directory, FakeEndpointDirectory)
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0,0"), endpoints)
    await dispatcher.take_events([event(1)])  # A fails once and waits for its retry
    await settle(dispatcher)
    assert len(sender.sent) == 3
    directory.endpoints[f"ep-{A}"] = directory.endpoints[f"ep-{A}"].model_copy(update={"enabled": False})
    await dispatcher.take_events([event(2)])
    directory.endpoints[f"ep-{B}"] = directory.endpoints[f"ep-{B}"].model_copy(update={"statuses": ["success"]})
    del directory.endpoints["ep-https://c.example.com/hook"]
    await settle(dispatcher)
    while await dispatcher.take_due():
        await settle(dispatcher)
    assert sender.sent[3:] == []  # A's retry, and version 2 to B and C, were all still to be attempted
    assert {d.url: d.state for d in queue.deliveries.values()} == {
        B: DeliveryState.DELIVERED,  # version 1, before the changes
        "https://c.example.com/hook": DeliveryState.DELIVERED,
    }


async def test_an_endpoint_failing_for_the_whole_period_is_disabled_and_announced_once() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500]})
    endpoints, announced = fake_endpoints(webhook_endpoint(A, enabled_at=NOW - timedelta(hours=200)))
    health = endpoints.health
    assert isinstance(health, FakeEndpointHealth)
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0,0"), endpoints)
    await dispatcher.take_events([event(1)])
    await settle(dispatcher)
    assert announced == []  # failing since now: not for 120 hours yet
    health.health[f"ep-{A}"].failing_since = NOW - timedelta(hours=121)
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0,0"), endpoints)  # a fresh process
    await dispatcher.take_events([event(2), event(3)])
    await settle(dispatcher)
    assert [(e.endpoint_id, e.url) for e in announced] == [(f"ep-{A}", A)]
    sent = len(sender.sent)
    await dispatcher.take_events([event(4)])
    await settle(dispatcher)
    while await dispatcher.take_due():
        await settle(dispatcher)
    assert len(sender.sent) == sent  # disabled: nothing more is sent


async def test_a_failing_streak_is_written_when_it_starts_and_ends_not_at_every_attempt() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500, 500, 500, 500, 200]})
    endpoints, _ = fake_endpoints(webhook_endpoint(A))
    health = endpoints.health
    assert isinstance(health, FakeEndpointHealth)
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0,0,0,0,0"), endpoints)
    await dispatcher.take_events([event(1)])
    await settle(dispatcher)
    while await dispatcher.take_due():
        await settle(dispatcher)
    assert len(sender.sent) == 5
    assert health.writes == 2  # the streak began, the streak ended
    assert health.health[f"ep-{A}"].failing_since is None


async def test_waiting_for_an_endpoints_rate_limit_spends_no_attempt() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender()
    endpoints, _ = fake_endpoints(webhook_endpoint(A, rate_limit_per_second=50), webhook_endpoint(B))
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings(), endpoints)
    started = asyncio.get_running_loop().time()
    await dispatcher.take_events([event(v) for v in range(1, 11)])
    await settle(dispatcher)
    at_a = [t for url, t in sender.times if url == A]
    assert len(at_a) == 10
    assert all(later - earlier >= 1 / 50 for earlier, later in itertools.pairwise(at_a))
    assert [t for url, t in sender.times if url == B][-1] - started < at_a[-1] - started  # B did not wait for A
    assert {a.attempt for a in queue.attempts} == {1}
