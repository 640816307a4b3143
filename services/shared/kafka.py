"""Thin Kafka adapter over FastStream: the broker, the topics, publishing JSON, and a
consumption wrapper that sends poison messages to ``<topic>.dlq`` and keeps going."""

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from faststream.types import DecodedMessage
from prometheus_client import REGISTRY
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from schemas.topics import DLQ_REASON_HEADER, DLQ_SOURCE_TOPIC_HEADER, TOPIC_PARTITIONS, Topics

from .logs import logged_with
from .metrics import CONSUMER_LAG, MESSAGES_CONSUMED
from .retry import KAFKA_UNAVAILABLE, MONGO_UNAVAILABLE, until_available
from .settings import Settings
from .tracing import TRACEPARENT, continued, header_traceparent, producer_span

logger = logging.getLogger(__name__)

M = TypeVar("M")
JSON_HEADERS = {"content-type": "application/json"}
PRODUCER_BATCH_BYTES = 512 * 1024
"""How much a producer gathers for one partition in one batch (aiokafka's default is 16 KiB).
A writer batch publishes a few hundred events together, some 1.5 KB each; in 16 KiB batches
they went out in many requests one after another, each awaiting its acknowledgement. With
512 KiB the writer stored 2,100–2,354 orders/s against 1,909–1,995 (``tests/bench/writer.py``,
30,000 creates, three alternating rounds). A lone publish is sent at once as before
(``linger_ms`` stays 0); a batch stays under the broker's 1 MiB message limit."""


async def keep_raw_body(message: StreamMessage[Any]) -> DecodedMessage:
    """FastStream would decode JSON before the handler runs, where a body that is not JSON
    raises outside the handler and the message is redelivered forever. Handlers get the
    bytes and decode them in ``consume``, which dead-letters what cannot be decoded."""
    return message.body


def client_id(role: str) -> str:
    """How this process names itself to Kafka (in consumer groups, quotas and broker logs):
    its role, host (a pod's name on Kubernetes) and process id."""
    return f"orders-{role}-{socket.gethostname()}-{os.getpid()}"


def make_broker(settings: Settings, role: str = "client", *, instrumented: bool = True) -> KafkaBroker:
    """A broker whose publishes are durable when they return: acks from all in-sync
    replicas, idempotent producer (its own retries add no duplicates). Its request timeout
    bounds how long a publish may wait for a broker that is down. Not ``instrumented``, it
    has no FastStream telemetry nor metrics per message, which cost a producer a fifth to a
    quarter of its time under load (``py-spy``); ``publish`` and ``publish_all`` make one
    span per message themselves (``producer_span``) and put its ``traceparent`` on it."""
    instrumentation = (
        (KafkaTelemetryMiddleware(), KafkaPrometheusMiddleware(registry=REGISTRY, app_name="orders"))
        if instrumented
        else ()
    )
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        decoder=keep_raw_body,
        acks="all",
        enable_idempotence=True,
        max_batch_size=PRODUCER_BATCH_BYTES,
        request_timeout_ms=int(settings.publish_timeout_seconds * 1000),
        client_id=client_id(role),
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
        # On shutdown, handlers get this long to finish; one still waiting for the database
        # is cancelled, which is safe: its message is not committed and comes again.
        graceful_timeout=5.0,
        # Instrumented: spans for every publish and every message handled, linked through
        # the messages' `traceparent` headers; FastStream's own message metrics (faststream_*).
        middlewares=instrumentation,
    )


def batch_subscriber(
    broker: KafkaBroker, topic: str, group_id: str, listener: ConsumerRebalanceListener, *, wait_ms: int
) -> BatchSubscriber:
    """A subscriber that takes up to 500 messages at a time (waiting at most ``wait_ms`` for
    any to come), commits them only once they were handled (``NACK_ON_ERROR``), and starts a
    new group at the earliest offset. One consumer: a partition's messages come in order."""
    subscriber: BatchSubscriber = broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        batch=True,
        max_records=500,
        batch_timeout_ms=wait_ms,
        listener=listener,
    )
    return subscriber


async def start_broker(broker: KafkaBroker) -> None:
    await until_available("Kafka", broker.start, KAFKA_UNAVAILABLE)


async def publish(broker: KafkaBroker, message: BaseModel, topic: str, key: str) -> None:
    """Publish one model as JSON, in the current trace; returns once Kafka has it durably."""
    await _hand_over(broker, message, topic, key, no_confirm=False)


async def publish_all(broker: KafkaBroker, messages: Sequence[tuple[BaseModel, str, str, str | None]]) -> None:
    """Publish (model, topic, key, traceparent) messages in this order, each in its trace.
    All are handed to the producer first, which sends them in a few requests; this returns
    once Kafka has every one durably (a failure of any raises)."""
    pending: list[asyncio.Future[Any]] = []
    for message, topic, key, traceparent in messages:
        with continued(traceparent):
            pending.append(await _hand_over(broker, message, topic, key, no_confirm=True))
    await asyncio.gather(*pending)


async def _hand_over(broker: KafkaBroker, message: BaseModel, topic: str, key: str, *, no_confirm: bool) -> Any:
    """Give one model as JSON to the producer in a span of its own, whose ``traceparent`` it
    carries. ``no_confirm``: return a future of Kafka's acknowledgement instead of awaiting it."""
    with producer_span(topic) as traceparent:
        body = message.model_dump_json().encode()
        return await broker.publish(body, topic, key=key.encode(), headers=_headers(traceparent), no_confirm=no_confirm)


def _headers(traceparent: str | None) -> dict[str, str]:
    """JSON, and the ``traceparent`` of the message's own span."""
    return JSON_HEADERS if traceparent is None else {**JSON_HEADERS, TRACEPARENT: traceparent}


async def ensure_topics(settings: Settings, partitions: int = TOPIC_PARTITIONS) -> list[str]:
    """Create the service's topics (dead-letter topics included) if missing; idempotent."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers, client_id="orders-admin")
    await until_available("Kafka", admin.start, KAFKA_UNAVAILABLE)
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in settings.topics.all() if t not in existing]
        if missing:
            response = await admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
            for topic, code, *_ in getattr(response, "topic_errors", []) or getattr(response, "topic_error_codes", []):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"creating topic {topic} failed with error code {code}")
        return missing
    finally:
        await admin.close()


async def topic_partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    """The partitions of ``topic`` as the cluster has them now (none if it does not exist)."""
    [described] = await admin.describe_topics([topic])
    return sorted(partition["partition"] for partition in described["partitions"])


class PoisonMessage(Exception):
    """A message that can never be processed: it goes to the dead-letter topic."""


def decode(body: bytes, adapter: TypeAdapter[M]) -> M:
    try:
        return adapter.validate_json(body)
    except ValidationError as error:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in error.errors()[:5])
        raise PoisonMessage(f"invalid message: {fields}") from error


async def dead_letter(broker: KafkaBroker, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
    """Publish the record, as it was, to ``<topic>.dlq`` with why and whence in its headers."""
    headers = {k: v.decode(errors="replace") for k, v in record.headers}
    headers |= {
        DLQ_REASON_HEADER: reason[:1000],
        DLQ_SOURCE_TOPIC_HEADER: record.topic,
        "x-dlq-source-partition": str(record.partition),
        "x-dlq-source-offset": str(record.offset),
    }
    logger.warning("dead-lettering %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason)
    MESSAGES_CONSUMED.labels(record.topic, "dead_lettered").inc()
    await broker.publish(record.value or b"", Topics.dead_letter(record.topic), key=record.key, headers=headers)


async def _until_dependencies_answer(work: Callable[[], Awaitable[Any]]) -> None:
    """Run ``work``, retrying while MongoDB or Kafka is unreachable (the messages stay
    uncommitted meanwhile)."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(MONGO_UNAVAILABLE + KAFKA_UNAVAILABLE + (asyncio.TimeoutError,)),
        wait=wait_exponential(multiplier=0.2, max=5),
        before_sleep=_log_retry,
        reraise=True,
    ):
        with attempt:
            await work()


async def consume(
    broker: KafkaBroker, message: KafkaMessage, adapter: TypeAdapter[M], handle: Callable[[M], Awaitable[Any]]
) -> None:
    """Decode a message and handle it. While MongoDB or Kafka is unreachable the handler is
    retried (the message stays uncommitted); a message that cannot be decoded, or whose
    handling fails for another reason, is dead-lettered so the consumer keeps going."""
    record = cast("ConsumerRecord[bytes, bytes]", message.raw_message)
    try:
        decoded = decode(record.value or b"", adapter)
        with logged_with(orderId=getattr(decoded, "order_id", None), commandId=getattr(decoded, "command_id", None)):
            await _until_dependencies_answer(lambda: handle(decoded))
        MESSAGES_CONSUMED.labels(record.topic, "handled").inc()
    except PoisonMessage as error:
        await dead_letter(broker, record, str(error))
    except Exception as error:  # one bad message must not stop the consumer
        logger.exception("handling a message failed")
        await dead_letter(broker, record, f"{type(error).__name__}: {error}")


async def consume_batch(
    broker: KafkaBroker,
    message: KafkaMessage,
    adapter: TypeAdapter[M],
    handle: Callable[[list[M], Sequence[str | None]], Awaitable[Any]],
) -> None:
    """``consume`` for a batch: what cannot be decoded is dead-lettered, the rest handled
    together, each with the ``traceparent`` it came with; should that fail for a reason
    other than an unreachable dependency, each message is handled on its own so that only
    the bad ones are dead-lettered."""
    good: list[tuple[ConsumerRecord[bytes, bytes], M]] = []
    for record in cast("tuple[ConsumerRecord[bytes, bytes], ...]", message.raw_message):
        try:
            good.append((record, decode(record.value or b"", adapter)))
        except PoisonMessage as error:
            await dead_letter(broker, record, str(error))
    if not good:
        return
    try:
        await _until_dependencies_answer(
            lambda: handle([item for _, item in good], [header_traceparent(record.headers) for record, _ in good])
        )
        for topic, count in Counter(record.topic for record, _ in good).items():
            MESSAGES_CONSUMED.labels(topic, "handled").inc(count)
    except Exception:  # fall back to one at a time
        logger.exception("handling a batch of %d failed; handling them one by one", len(good))
        for record, item in good:
            try:
                traces = [header_traceparent(record.headers)]
                with continued(traces[0]):
                    await _until_dependencies_answer(lambda item=item, traces=traces: handle([item], traces))  # type: ignore[misc]
                MESSAGES_CONSUMED.labels(record.topic, "handled").inc()
            except Exception as error:  # noqa: BLE001 - one bad message must not stop the consumer
                await dead_letter(broker, record, f"{type(error).__name__}: {error}")


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    logger.warning("handling waits for its dependencies (%s: %s); retrying", type(error).__name__, error)


class GroupOffsets:
    """Where a consumer group stands on a topic: each partition's end offset beside the
    group's committed offset. Its own clients, so that reading never disturbs consuming."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._ends = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False, client_id=client_id
        )
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id=client_id)

    async def start(self) -> None:
        await until_available("Kafka", self._ends.start, KAFKA_UNAVAILABLE)
        await until_available("Kafka", self._admin.start, KAFKA_UNAVAILABLE)

    async def stop(self) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def read(self, group_id: str, topic: str) -> dict[int, tuple[int, int | None]]:
        """Partition -> (end offset, committed offset or None)."""
        partitions = [TopicPartition(topic, p) for p in await topic_partitions(self._admin, topic)]
        if not partitions:
            return {}
        ends = await self._ends.end_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(group_id, partitions=partitions)
        offsets: dict[int, tuple[int, int | None]] = {}
        for tp in partitions:
            done = committed.get(tp)
            offsets[tp.partition] = (ends[tp], done.offset if done is not None and done.offset >= 0 else None)
        return offsets

    async def export_lag(self, groups: dict[str, str]) -> None:
        """Set ``orders_consumer_lag`` for each group -> topic."""
        for group_id, topic in groups.items():
            for partition, (end, committed) in (await self.read(group_id, topic)).items():
                CONSUMER_LAG.labels(group_id, topic, str(partition)).set(end - (committed or 0))


class AssignmentWatch(ConsumerRebalanceListener):  # type: ignore[misc]
    """Whether a subscriber's consumers have joined their group and are not in the middle
    of a rebalance. Joined, not "given partitions": a replica beyond the partition count
    gets none and still does its share (it takes over when another leaves)."""

    def __init__(self, consumers: int = 1) -> None:
        self._consumers = consumers
        self._joins = 0
        self._rebalancing = 0

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._rebalancing += 1

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._rebalancing = max(self._rebalancing - 1, 0)
        self._joins += 1

    @property
    def joined(self) -> bool:
        return self._joins >= self._consumers and self._rebalancing == 0
