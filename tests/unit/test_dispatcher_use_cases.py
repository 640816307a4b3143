"""The dispatcher's use cases (fan an event out, attempt, retry, dead-letter) against
in-memory fakes of its queue, its signing secrets and its HTTP sender."""

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from schemas.base import utc_now
from schemas.events import OrderEvent
from schemas.order import OrderStatus
from schemas.storage.webhooks import DeliveryState
from services.domain.events import event_for
from services.domain.webhooks import AttemptResult
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

A, B, C = "https://a.example.com/hook", "https://b.example.com/hook", "https://c.example.com/hook"


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
    assert queue.deliveries == {}  # delivered at the first attempt: in the history, never queued
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
    assert states == {A: (DeliveryState.DEAD, 2)}  # B was delivered at once: never queued
    assert [a.outcome for a in queue.attempts if a.url == A] == ["failed", "failed"]


async def test_what_must_survive_is_written_before_the_events_may_be_committed() -> None:
    """Attempt first: when ``take_events`` returns (and the batch is committed), every
    attempt is in the history and the failed delivery is queued for its retry; nothing else
    was written, and nothing waits for a flush."""
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500]})
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,60"), fake_endpoints()[0])
    first = event(1, A, B)
    await dispatcher.take_events([first])
    assert sorted((a.url, a.outcome) for a in queue.attempts) == [(A, "failed"), (B, "delivered")]
    [queued] = queue.deliveries.values()
    assert (queued.url, queued.state, queued.attempts, queued.last_error) == (A, DeliveryState.PENDING, 1, "HTTP 500")
    assert queued.due_at > NOW  # its retry, due in 60 s


class HeldSender(FakeSender):
    """Holds attempts to ``held`` (all but the first ``answered`` of each URL) until
    ``release`` is set."""

    def __init__(self, *held: str, answered: dict[str, int] | None = None) -> None:
        super().__init__()
        self.held = held
        self.answered = dict(answered or {})
        self.release = asyncio.Event()

    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        if url in self.held:
            if self.answered.get(url, 0) > 0:
                self.answered[url] -= 1
            else:
                await self.release.wait()
        return await super().send(url, message_id, body, secrets)


async def test_an_attempt_still_running_is_queued_with_its_lease_and_settled_there() -> None:
    """A slow URL does not hold the batch of events: past ``ORDERS_WEBHOOK_QUEUE_AFTER_SECONDS``
    its delivery is queued, leased (no retry loop takes it meanwhile), and the batch
    returns; when the attempt ends, its outcome is written to the queue like a retry's."""
    queue, sender = FakeDeliveryQueue(), HeldSender(A)
    quick = Settings.model_validate({"ORDERS_WEBHOOK_QUEUE_AFTER_SECONDS": "0.05"})
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, quick, fake_endpoints()[0])
    await asyncio.wait_for(dispatcher.take_events([event(1, A, B)]), timeout=5)
    assert [(a.url, a.outcome) for a in queue.attempts] == [(B, "delivered")]
    [running] = queue.deliveries.values()
    assert (running.url, running.state, running.attempts) == (A, DeliveryState.PENDING, 0)
    assert running.lease_until > utc_now()
    assert await dispatcher.take_due() == 0  # leased: the attempt in flight has it
    sender.release.set()
    await settle(dispatcher)
    assert queue.deliveries[running.id].state is DeliveryState.DELIVERED
    assert sorted((a.url, a.outcome) for a in queue.attempts) == [(A, "delivered"), (B, "delivered")]


async def test_a_batch_waits_for_urls_that_progress_and_queues_what_would_hold_it() -> None:
    """Per URL, a batch waits for as many attempts as would settle in two more intervals at
    the pace of the last one: A hangs (all queued after the first interval), B answers (none
    queued), C answers 2 of its 8 and then hangs (4 kept for its pace, 2 queued; the 4 queued
    after the next interval, in which C settled nothing)."""
    queue, sender = FakeDeliveryQueue(), HeldSender(A, C, answered={C: 2})
    quick = Settings.model_validate({"ORDERS_WEBHOOK_QUEUE_AFTER_SECONDS": "0.05"})
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, quick, fake_endpoints()[0])
    await asyncio.wait_for(dispatcher.take_events([event(v, A, B, C) for v in range(1, 9)]), timeout=5)
    assert [Counter(urls) for urls in queue.added] == [Counter({A: 8, C: 2}), Counter({C: 4})]
    assert Counter(a.url for a in queue.attempts) == Counter({B: 8, C: 2})
    sender.release.set()
    await settle(dispatcher)
    assert Counter(a.url for a in queue.attempts) == Counter({A: 8, B: 8, C: 8})
    assert {d.state for d in queue.deliveries.values()} == {DeliveryState.DELIVERED}


async def test_a_failed_write_fails_the_batch_and_is_written_again_at_the_next_flush() -> None:
    """The database blinks while a batch's outcomes are written: the batch is not committed
    (Kafka delivers its events again), and the outcomes are not dropped either."""
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500]})
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,60"), fake_endpoints()[0])
    queue.failures = 1
    try:
        await dispatcher.take_events([event(1, A, B)])
    except ConnectionError:
        pass
    else:
        raise AssertionError("take_events returned although nothing was written")
    assert (queue.attempts, queue.deliveries) == ([], {})
    await dispatcher.record_outcomes()
    assert sorted((a.url, a.outcome) for a in queue.attempts) == [(A, "failed"), (B, "delivered")]
    assert [d.url for d in queue.deliveries.values()] == [A]


async def test_a_probe_lost_to_a_database_error_does_not_silence_the_url() -> None:
    """Item 8 of the hardening issue: the circuit of A is open; its probe fails before it
    has a result (the signing secrets cannot be read). Once the probe is overdue, A is
    tried again and delivered, instead of being postponed for ever."""
    clock = Clock()
    queue, sender, secrets = FakeDeliveryQueue(), FakeSender({A: [500, 200]}), FakeSecrets()
    breakers = CircuitBreakers(failure_threshold=1, cooldown_seconds=30, clock=clock)
    dispatcher = Dispatcher(queue, secrets, sender, settings(), fake_endpoints()[0], breakers)

    first, probe, third = event(1, A), event(2, A), event(3, A)
    await dispatcher.take_events([first])  # fails: the circuit opens
    await settle(dispatcher)
    clock.now = 30
    secrets.failures = 1
    await dispatcher.take_events([probe])  # the probe: lost to the database error
    await settle(dispatcher)
    assert [event_id for url, event_id in sender.sent if url == A] == [first.id]
    lost = next(d for d in queue.deliveries.values() if d.event_id == probe.id)
    assert (lost.state, lost.attempts) == (DeliveryState.PENDING, 0)  # queued, leased: tried again later

    clock.now = 60
    await dispatcher.take_events([third])
    await settle(dispatcher)
    assert (A, third.id) in sender.sent
    assert [a.outcome for a in queue.attempts if a.event_id == third.id] == ["delivered"]


# --- merchants' webhook endpoints ------------------------------------------------------


async def test_every_matching_endpoint_gets_the_event_once_signed_with_its_own_secret() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender()
    endpoints, _ = fake_endpoints(
        webhook_endpoint(A),  # also an order URL: one delivery, the endpoint's
        webhook_endpoint(B, statuses=["success"]),  # does not match pending.created
        webhook_endpoint(C, statuses=["pending"], event_types=["order.status.updated"]),
        webhook_endpoint("https://other.example.com/hook", merchant_id="m2"),
    )
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings(), endpoints)
    first = event(1, A)
    await dispatcher.take_events([first])
    await settle(dispatcher)
    assert sorted(sender.sent) == [(A, first.id), (C, first.id)]
    assert {a.url: a.endpoint_id for a in queue.attempts} == {
        A: f"ep-{A}",
        C: "ep-https://c.example.com/hook",
    }
    assert set(sender.secrets.values()) == {(ENDPOINT_SECRET,)}


async def test_first_attempts_use_the_endpoints_their_batch_read_and_retries_read_theirs_again() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500]})
    endpoints, _ = fake_endpoints(webhook_endpoint(A), webhook_endpoint(B))
    directory = endpoints.directory
    assert isinstance(directory, FakeEndpointDirectory)
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0"), endpoints)
    await dispatcher.take_events([event(1), event(2)])
    assert (len(sender.sent), directory.gets) == (4, 0)
    while await dispatcher.take_due():
        await settle(dispatcher)
    assert (len(sender.sent), directory.gets) == (6, 2)  # A's two retries each read A as it is now


async def test_a_disable_a_filter_change_or_a_delete_stops_what_was_not_attempted_yet() -> None:
    queue, sender = FakeDeliveryQueue(), FakeSender({A: [500], B: [500]})
    endpoints, _ = fake_endpoints(webhook_endpoint(A), webhook_endpoint(B), webhook_endpoint(C))
    directory = endpoints.directory
    assert isinstance(directory, FakeEndpointDirectory)
    dispatcher = Dispatcher(queue, FakeSecrets(), sender, settings("0,0,0"), endpoints)
    await dispatcher.take_events([event(1)])  # A and B fail once and wait for their retries
    await settle(dispatcher)
    assert len(sender.sent) == 3
    assert {d.url for d in queue.deliveries.values()} == {A, B}
    directory.endpoints[f"ep-{A}"] = directory.endpoints[f"ep-{A}"].model_copy(update={"enabled": False})
    directory.endpoints[f"ep-{B}"] = directory.endpoints[f"ep-{B}"].model_copy(update={"statuses": ["success"]})
    del directory.endpoints["ep-https://c.example.com/hook"]
    await dispatcher.take_events([event(2)])
    while await dispatcher.take_due():
        await settle(dispatcher)
    assert sender.sent[3:] == []  # neither the retries of A and B, nor version 2 to any of them
    assert queue.deliveries == {}  # the retries left the queue unattempted


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
