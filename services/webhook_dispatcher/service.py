"""What the dispatcher does: fan each event out into deliveries, attempt each at once, record
every attempt, and queue only what must survive: failures with their next try, postponed
deliveries, and attempts the events' batch does not wait for."""

import asyncio
import functools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace

from schemas.base import utc_now
from schemas.endpoint_events import WebhookEndpointDisabled
from schemas.events import OrderEvent
from schemas.storage.endpoints import WebhookEndpointDocument
from schemas.storage.webhooks import DeliveryState, WebhookAttempt, WebhookDelivery
from services.domain.endpoints import delivery_targets, event_status, is_enabled, should_disable, signing_secrets, wants
from services.domain.webhooks import (
    AttemptResult,
    NextStep,
    after_attempt,
    delivery_id,
    url_for_logs,
    webhook_body,
)
from services.shared.logs import logged_with
from services.shared.settings import Settings
from services.shared.tracing import continued

from .breaker import CircuitBreakers
from .limiter import KeyedLimiter, RateLimits
from .metrics import attempt_metrics
from .ports import DeliveryQueue, Endpoints, Sender, SigningSecrets
from .store import NEVER, Outcomes, batch_ids

logger = logging.getLogger(__name__)
TRACER = trace.get_tracer(__name__)
NOT_KNOWN = object()
WAITS_BEFORE_QUEUEING_ALL = 5
"""How many intervals of ``ORDERS_WEBHOOK_QUEUE_AFTER_SECONDS`` a batch of events waits for
its attempts at most (see ``Dispatcher._wait_or_queue``)."""


@dataclass(eq=False)
class Unqueued:
    """A delivery attempted straight from its event, not (yet) in the queue. Its outcome is
    ``settled`` with the events' batch, unless the batch did not wait for the attempt: then
    the delivery is written to the queue (``queueing``), and its outcome is written there
    like a retry's once that write is done."""

    endpoint: WebhookEndpointDocument | None = None
    """The delivery's endpoint (None: an order URL), as its batch of events read it."""
    settled: bool = False
    queueing: asyncio.Future[None] | None = None


@dataclass(frozen=True)
class Attempting:
    """A delivery of a batch of events, with its attempt in flight."""

    delivery: WebhookDelivery
    unqueued: Unqueued
    task: asyncio.Task[None]


class Dispatcher:
    def __init__(
        self,
        store: DeliveryQueue,
        merchants: SigningSecrets,
        sender: Sender,
        settings: Settings,
        endpoints: Endpoints,
        breakers: CircuitBreakers | None = None,
    ) -> None:
        self._store = store
        self._merchants = merchants
        self._sender = sender
        self._endpoints = endpoints
        self._rates = RateLimits()
        self._failing_since: dict[str, datetime | None] = {}
        """What this process knows of each endpoint's failing streak (absent: nothing yet)."""
        self._disable_after = timedelta(hours=settings.webhook_disable_after_hours)
        self._schedule = settings.webhook_retry_schedule
        # A lease outlives the longest attempt, so no other dispatcher takes a delivery
        # that is still being attempted; after a crash it runs out and the delivery is retried.
        self._lease = timedelta(seconds=settings.webhook_timeout_seconds * 2 + 5)
        self._lease_seconds = self._lease.total_seconds()
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        # One slow endpoint holds at most its own few slots: other URLs, on its host or
        # elsewhere, keep theirs. The per-host limit only protects a host from a flood.
        self._url_slots = KeyedLimiter(settings.webhook_per_url_concurrency)
        self._host_slots = KeyedLimiter(settings.webhook_per_host_concurrency)
        self._breakers = breakers or CircuitBreakers(
            settings.webhook_breaker_failures, settings.webhook_breaker_cooldown_seconds
        )
        self._outcomes = OutcomeRecorder(store)
        self._queue_after = settings.webhook_queue_after_seconds
        self._in_flight: set[asyncio.Task[None]] = set()
        # Back-pressure: past this many attempts in flight, consuming events waits.
        self._capacity = asyncio.Semaphore(settings.webhook_concurrency * 40)

    async def take_events(self, events: list[OrderEvent], traceparents: Sequence[str | None] = ()) -> None:
        """Attempt one delivery per URL of each event's order and per endpoint of its merchant
        that wants it, at once, before anything is written (each keeps its event's trace).
        Returns once what must survive is written: every attempt made, each failure with its
        next try, each postponed delivery, and each delivery whose attempt was not worth
        waiting for (``_wait_or_queue``: queued with its lease, as a retry is). Then the
        events may be committed; a crash before that has them delivered again, and attempted
        again (at least once, as the contract says). Raises if that write fails."""
        now = utc_now()
        batches = batch_ids()
        deliveries: dict[str, WebhookDelivery] = {}  # by id: an event twice in a batch fans out once
        traces = list(traceparents) or [None] * len(events)
        endpoints = {m: await self._endpoints_on(m) for m in {e.merchant_id for e in events}}
        endpoint_of = {e.id: e for merchant_endpoints in endpoints.values() for e in merchant_endpoints}
        for event, traceparent in zip(events, traces, strict=True):
            body = webhook_body(event).decode()  # the same for every URL of the event
            for url, endpoint_id in delivery_targets(event, endpoints[event.merchant_id]).items():
                delivery = self._delivery(event, url, endpoint_id, body, now, next(batches), traceparent)
                deliveries.setdefault(delivery.id, delivery)
        attempts = []
        for delivery in deliveries.values():
            unqueued = Unqueued(endpoint_of.get(delivery.endpoint_id) if delivery.endpoint_id else None)
            attempts.append(Attempting(delivery, unqueued, await self._spawn(delivery, unqueued)))
        for interval in range(WAITS_BEFORE_QUEUEING_ALL):
            if not attempts:
                break
            attempts = await self._wait_or_queue(attempts, last=interval == WAITS_BEFORE_QUEUEING_ALL - 1)
        await self._outcomes.flush()

    async def _endpoints_on(self, merchant_id: str) -> list[WebhookEndpointDocument]:
        """A merchant's endpoints that are on: read once for a batch of events, so that
        first attempts need no read of their own (retries read theirs again)."""
        return [e for e in await self._endpoints.directory.of_merchant(merchant_id) if await self._is_on(e)]

    async def _is_on(self, endpoint: WebhookEndpointDocument) -> bool:
        """Whether the endpoint is enabled, by its health as stored now."""
        health = await self._endpoints.health.get(endpoint.id)
        return is_enabled(endpoint, health.disabled_at if health else None)

    async def _wait_or_queue(self, attempts: list[Attempting], *, last: bool) -> list[Attempting]:
        """Wait up to ``ORDERS_WEBHOOK_QUEUE_AFTER_SECONDS`` for attempts to settle, queue
        those not worth waiting for, and return the others. Per URL, it is worth waiting for
        as many as would settle in two more intervals at this interval's pace: a healthy URL
        with many of the batch's deliveries gets through them without a queue write, a hanging
        one's are queued at once, a slow one's beyond its pace. After the ``last`` interval
        every attempt left is queued, so a batch waits a few intervals at most."""
        await asyncio.wait([a.task for a in attempts], timeout=self._queue_after)
        settled = Counter(a.delivery.url for a in attempts if a.unqueued.settled)
        room = Counter({url: 2 * count for url, count in settled.items()})
        keep: list[Attempting] = []
        queue: list[Attempting] = []
        for attempt in attempts:
            if attempt.unqueued.settled:
                continue
            # An attempt ended without a result, or one not worth waiting for: queued.
            if attempt.task.done() or last or room[attempt.delivery.url] == 0:
                queue.append(attempt)
            else:
                room[attempt.delivery.url] -= 1
                keep.append(attempt)
        if queue:
            await self._queue_running(queue)
        return keep

    async def _queue_running(self, running: list[Attempting]) -> None:
        """Write deliveries whose attempt has not settled to the queue, leased as they were
        taken (an attempt that ended without a result is retried when the lease runs out);
        their attempts go on, and write their outcomes there."""
        written = asyncio.get_running_loop().create_future()
        for attempt in running:
            attempt.unqueued.queueing = written
        try:
            await self._store.add([attempt.delivery for attempt in running])
        finally:
            written.set_result(None)

    def _delivery(
        self,
        event: OrderEvent,
        url: str,
        endpoint_id: str | None,
        body: str,
        now: datetime,
        batch_id: str,
        traceparent: str | None,
    ) -> WebhookDelivery:
        return WebhookDelivery(
            id=delivery_id(event.id, url),
            event_id=event.id,
            event_type=event.type,
            order_id=event.order_id,
            merchant_id=event.merchant_id,
            version=event.version,
            url=url,
            endpoint_id=endpoint_id,
            status=event_status(event),
            body=body,
            due_at=now,
            lease_until=now + self._lease,
            created_at=now,
            batch_id=batch_id,
            traceparent=traceparent,
        )

    async def take_due(self, limit: int = 200) -> int:
        """Claim deliveries whose retry is due, or whose worker died, and attempt them."""
        if self._capacity.locked():
            return 0
        now = utc_now()
        claimed = await self._store.claim_due(now, now + self._lease, limit)
        for delivery in claimed:
            await self._spawn(delivery, None)
        return len(claimed)

    async def _spawn(self, delivery: WebhookDelivery, unqueued: Unqueued | None) -> asyncio.Task[None]:
        await self._capacity.acquire()
        task = asyncio.create_task(self._attempt(delivery, unqueued), name=f"webhook {delivery.id}")
        self._in_flight.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._capacity.release()

    async def _attempt(self, delivery: WebhookDelivery, unqueued: Unqueued | None) -> None:
        """An attempt continues the trace of its event's change, in a span of its own."""
        with (
            continued(delivery.traceparent),
            TRACER.start_as_current_span(
                "webhook attempt",
                attributes={"webhook.delivery_id": delivery.id, "webhook.attempt": delivery.attempts + 1},
            ),
            logged_with(orderId=delivery.order_id),
        ):
            await self._attempt_in_trace(delivery, unqueued)

    async def _attempt_in_trace(self, delivery: WebhookDelivery, unqueued: Unqueued | None) -> None:
        url = delivery.url
        if self._breakers.is_open(url):  # do not even queue for a slot
            await self._postpone(delivery, unqueued, self._breakers.blocked_for(url))
            return
        try:
            if unqueued is not None:
                endpoint = unqueued.endpoint  # as its batch of events just read it
            else:
                endpoint = await self._endpoint_wanting(delivery) if delivery.endpoint_id else None
            if delivery.endpoint_id and endpoint is None:  # deleted, disabled, or filtered out since
                if not self._settled_here(unqueued):
                    await _queue_written(unqueued)
                    await self._outcomes.add(dropped=(delivery.batch_id, delivery.id))
                return
            limit = endpoint.rate_limit_per_second if endpoint is not None else None
            pace = (endpoint.id, limit) if endpoint is not None and limit else None
            if pace and (wait := self._rates.expected_wait(*pace)) > self._lease_seconds / 2:
                await self._postpone(delivery, unqueued, wait)  # waits in the queue, not in memory past its lease
                return
            # A rate-limited endpoint waits for its pace holding its own URL slots (so at most
            # that many of its host's and the process's slots): the pace holds on the wire.
            async with (
                self._rates.queued(pace[0] if pace else None),
                self._url_slots.hold(url),
                self._host_slots.hold(host_of(url)),
                self._slots,
            ):
                if wait := self._breakers.blocked_for(url):
                    await self._postpone(delivery, unqueued, wait)
                    return
                if endpoint is not None:
                    secrets = signing_secrets(endpoint.secrets, utc_now())
                else:
                    secrets = await self._merchants.webhook_secrets(delivery.merchant_id)
                if pace:
                    await self._rates.acquire(*pace)
                result = await self._sender.send(url, delivery.event_id, delivery.body.encode(), secrets)
        except Exception:
            # The lease runs out and the delivery is attempted again.
            logger.exception("attempting delivery %s failed before a result", delivery.id)
            return
        self._breakers.record(url, result.succeeded)
        attempts = delivery.attempts + 1
        step = after_attempt(result, attempts, self._schedule)
        now = utc_now()
        outcome = {DeliveryState.DELIVERED: "delivered", DeliveryState.ABORTED: "aborted"}.get(step.state, "failed")
        attempts_counted, duration = attempt_metrics(outcome)
        attempts_counted.inc()
        duration.observe(result.duration_ms / 1000)
        attempt = WebhookAttempt(
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            order_id=delivery.order_id,
            merchant_id=delivery.merchant_id,
            endpoint_id=delivery.endpoint_id,
            event_type=delivery.event_type,
            url=delivery.url,
            attempt=attempts,
            attempted_at=now,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
            outcome=outcome,
        )
        await self._record(delivery, unqueued, attempt, step, result, now)
        if endpoint is not None:
            try:
                await self._track_health(endpoint, result.succeeded)
            except Exception:  # the attempt is recorded; the streak is kept at the next one
                logger.exception("keeping the health of webhook endpoint %s failed", endpoint.id)

    async def _record(
        self,
        delivery: WebhookDelivery,
        unqueued: Unqueued | None,
        attempt: WebhookAttempt,
        step: NextStep,
        result: AttemptResult,
        now: datetime,
    ) -> None:
        here = self._settled_here(unqueued)
        if step.state is DeliveryState.DELIVERED:
            if here:
                self._outcomes.gather(attempt)
            else:
                await _queue_written(unqueued)
                await self._outcomes.add(attempt, delivered=(delivery.batch_id, delivery.id))
            return
        update: dict[str, Any] = {
            "state": step.state.value,
            "attempts": attempt.attempt,
            "leaseUntil": NEVER,
            "lastError": result.error or f"HTTP {result.status_code}",
        }
        if step.retry_in is not None:
            update["dueAt"] = now + timedelta(seconds=step.retry_in)
        if here:
            self._outcomes.gather(attempt, queued=_updated(delivery, update))
        else:
            await _queue_written(unqueued)
            await self._outcomes.add(attempt, rescheduled=(delivery.id, update))
        if step.state is DeliveryState.DEAD:
            logger.warning(
                "delivery %s to %s is dead-lettered after %d attempts",
                delivery.id,
                url_for_logs(delivery.url),
                attempt.attempt,
            )

    @staticmethod
    def _settled_here(unqueued: Unqueued | None) -> bool:
        """Whether the outcome goes with the delivery's batch of events: true for one
        attempted straight from its event and not written to the queue since (its outcome is
        gathered at once, without waiting, so the batch's write has it). Otherwise the
        outcome is written to the queue, like a retry's."""
        if unqueued is None or unqueued.queueing is not None:
            return False
        unqueued.settled = True
        return True

    async def _endpoint_wanting(self, delivery: WebhookDelivery) -> WebhookEndpointDocument | None:
        """The delivery's endpoint as it is now, if it still wants the delivery: a filter
        change, a disable or a delete takes effect for every attempt not yet made."""
        assert delivery.endpoint_id is not None
        endpoint = await self._endpoints.directory.get(delivery.endpoint_id)
        if endpoint is None or not wants(endpoint, delivery.event_type, delivery.status):
            return None
        return endpoint if await self._is_on(endpoint) else None

    async def _track_health(self, endpoint: WebhookEndpointDocument, succeeded: bool) -> None:
        """Keep the endpoint's failing streak (written only when it starts or ends), and
        disable the endpoint once the streak has lasted ``ORDERS_WEBHOOK_DISABLE_AFTER_HOURS``."""
        known = self._failing_since.get(endpoint.id, NOT_KNOWN)
        if succeeded:
            if known is not None:
                await self._endpoints.health.succeeded(endpoint.id)
                self._failing_since[endpoint.id] = None
            return
        now = utc_now()
        if not isinstance(known, datetime):
            known = self._failing_since[endpoint.id] = await self._endpoints.health.failing(endpoint.id, now)
        if not should_disable(known, endpoint.enabled_at, now, self._disable_after):
            return
        # Another dispatcher may have seen a success since: look before disabling.
        health = await self._endpoints.health.get(endpoint.id)
        if health is None or health.failing_since is None:
            self._failing_since[endpoint.id] = await self._endpoints.health.failing(endpoint.id, now)
            return
        if await self._endpoints.health.disable(endpoint.id, now, endpoint.enabled_at):
            logger.warning(
                "webhook endpoint %s (%s) is disabled: every attempt failed since %s",
                endpoint.id,
                url_for_logs(endpoint.url),
                health.failing_since.isoformat(),
            )
            await self._endpoints.announce(
                WebhookEndpointDisabled(
                    endpoint_id=endpoint.id, merchant_id=endpoint.merchant_id, url=endpoint.url, occurred_at=now
                )
            )

    async def _postpone(self, delivery: WebhookDelivery, unqueued: Unqueued | None, wait: float) -> None:
        """An open circuit: try again after its cooldown, without counting an attempt. The
        due time is rounded up to the second, so a URL's postponed deliveries share it and
        are written together (a URL that just failed may have hundreds waiting)."""
        due_at = (utc_now() + timedelta(seconds=max(wait, 0.5))).replace(microsecond=0) + timedelta(seconds=1)
        if self._settled_here(unqueued):
            self._outcomes.gather(queued=_updated(delivery, {"dueAt": due_at, "leaseUntil": NEVER}))
        else:
            await _queue_written(unqueued)
            await self._outcomes.add(postponed=(delivery.batch_id, delivery.id, due_at))

    async def record_outcomes(self) -> None:
        """Write the outcomes gathered since the last call (run often, see app.py)."""
        await self._outcomes.flush()

    async def drain(self, timeout: float) -> None:
        """On shutdown: let attempts in flight finish and write their outcomes as they come
        (attempts wait for room among the unwritten ones); what is left keeps its lease and
        is attempted again by whichever dispatcher runs next."""
        if self._in_flight:
            logger.info("waiting for %d webhook attempts in flight", len(self._in_flight))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while self._in_flight and (left := deadline - loop.time()) > 0:
                await asyncio.wait(set(self._in_flight), timeout=min(left, 0.1))
                await asyncio.wait_for(self._outcomes.flush(), timeout=max(deadline - loop.time(), 1.0))
            for task in set(self._in_flight):
                task.cancel()
            await asyncio.wait_for(self._outcomes.flush(), timeout=max(deadline - loop.time(), 1.0))
        except TimeoutError:  # the database is away: their events were not committed either
            logger.warning("webhook outcomes were not written before shutdown: their deliveries are attempted again")


@functools.lru_cache(maxsize=4096)
def host_of(url: str) -> str:
    """The host (and port) a URL's deliveries share a limit on."""
    return urlsplit(url).netloc


async def _queue_written(unqueued: Unqueued | None) -> None:
    """Wait until a delivery its batch is writing to the queue is there."""
    if unqueued is not None and unqueued.queueing is not None:
        await unqueued.queueing


def _updated(delivery: WebhookDelivery, update: dict[str, Any]) -> WebhookDelivery:
    """The delivery with ``update`` (fields by their stored names) applied, to be queued."""
    return WebhookDelivery.model_validate(delivery.model_dump(by_alias=True) | update)


class OutcomeRecorder:
    """Gathers finished attempts and writes them in batches: one insert for the history and
    a few writes for the queue per batch, instead of writes per delivery. Until a batch
    is written its queued deliveries keep their lease, and its events are not committed; a
    crash in between means they are attempted again (at least once, as the contract says).
    A batch whose write fails is written again, first, at the next ``flush``.

    At most ``max_unwritten`` outcomes wait to be written: past that, ``add`` waits, and so
    do the attempts and, through them, consumption. So attempts never run far ahead of the
    database: a lag longer than a lease would have them attempted twice."""

    def __init__(self, store: DeliveryQueue, max_unwritten: int = 2000) -> None:
        self._store = store
        self._gathered = Outcomes()
        self._unwritten: Outcomes | None = None
        """Outcomes whose write failed, written again before any gathered since."""
        self._room = asyncio.Semaphore(max_unwritten)
        self._writing = asyncio.Lock()

    async def add(
        self,
        attempt: WebhookAttempt | None = None,
        *,
        delivered: tuple[str, str] | None = None,
        postponed: tuple[str, str, datetime] | None = None,
        rescheduled: tuple[str, dict[str, Any]] | None = None,
        dropped: tuple[str, str] | None = None,
    ) -> None:
        """Gather the outcome of a delivery in the queue, once there is room."""
        await self._room.acquire()
        gathered = self._gathered
        gathered.held += 1
        if attempt is not None:
            gathered.attempts.append(attempt)
        if delivered is not None:
            gathered.delivered.append(delivered)
        if postponed is not None:
            gathered.postponed.append(postponed)
        if rescheduled is not None:
            gathered.rescheduled.append(rescheduled)
        if dropped is not None:
            gathered.dropped.append(dropped)

    def gather(self, attempt: WebhookAttempt | None = None, *, queued: WebhookDelivery | None = None) -> None:
        """Gather, at once, the outcome of a delivery attempted straight from its event: its
        attempt, and the delivery itself if it must wait in the queue (a failure, a
        postponement). Its batch of events waits for their write, which bounds them."""
        if attempt is not None:
            self._gathered.attempts.append(attempt)
        if queued is not None:
            self._gathered.queued.append(queued)

    async def flush(self) -> None:
        """Write what a failed write left, then what was gathered until now; raises if a
        write fails (what it held is written again at the next call)."""
        async with self._writing:
            if self._unwritten is not None:
                await self._write(self._unwritten)
            if self._gathered:
                self._unwritten, self._gathered = self._gathered, Outcomes()
                await self._write(self._unwritten)

    async def _write(self, outcomes: Outcomes) -> None:
        await self._store.record_outcomes(outcomes)
        for _ in range(outcomes.held):
            self._room.release()
        self._unwritten = None
