"""The order-writer process: Kafka subscribers and background loops around OrderWriter."""

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import cast

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from schemas.checkout import checkout_event_adapter
from schemas.commands import RepublishOutbox, order_commands_message_adapter, order_create_command_adapter
from schemas.events import OrderEvent, order_event_adapter
from services.shared.consumer_process import consumer_process
from services.shared.kafka import (
    AssignmentWatch,
    batch_subscriber,
    consume,
    consume_batch,
    make_broker,
    publish_all,
    start_broker,
)
from services.shared.mongo import Database
from services.shared.runtime import Pace, every, wait_for_stop_signal
from services.shared.settings import Settings

from .intake import CheckoutIntake
from .service import OrderWriter
from .store import INDEXES, CheckoutProgress, CheckoutStore, CommandLog, CreationMarks, OrderStore, ParkedCreates
from .tallies import DayTallies

logger = logging.getLogger(__name__)

TALLY_PACE_SECONDS = 0.5
"""The tallies' consumer takes a batch at most this often: each batch costs about eight
commands per day it touches (``DayTallies.apply``), so under load they are paid for many
events at once (at 300 orders/s, some 0.05 an order instead of 0.13 at 0.2 s). List pages lag
the orders by up to this much more."""


def group_id(settings: Settings, role: str) -> str:
    """The consumer group of one of the writer's subscribers."""
    return f"{settings.topic_prefix}orders-writer.{role}"


def build_writer(settings: Settings, db: Database, broker: KafkaBroker, intake: CheckoutIntake) -> OrderWriter:
    async def publish_events(events: Sequence[tuple[OrderEvent, str | None]]) -> None:
        topic = settings.topics.order_events
        await publish_all(broker, [(event, topic, event.order_id, traceparent) for event, traceparent in events])

    async def request_republish(order_ids: Sequence[str]) -> None:
        topic = settings.topics.order_commands
        await publish_all(broker, [(RepublishOutbox(order_id=i), topic, i, None) for i in order_ids])

    return OrderWriter(
        OrderStore(db),
        CheckoutStore(db),
        ParkedCreates(db),
        CommandLog(db),
        publish_events,
        CreationMarks(db),
        intake,
        request_republish,
        checkout_grace=timedelta(seconds=settings.checkout_grace_seconds),
        return_policy=settings.return_policy,
    )


def consumer_groups(settings: Settings) -> dict[str, str]:
    """The writer's consumer groups and the topic each reads."""
    topics = settings.topics
    return {
        group_id(settings, "checkouts"): topics.checkout_events,
        group_id(settings, "create"): topics.order_create,
        group_id(settings, "commands"): topics.order_commands,
        group_id(settings, "tallies"): topics.order_events,
    }


def subscribe(
    broker: KafkaBroker, writer: OrderWriter, intake: CheckoutIntake, tallies: DayTallies, settings: Settings
) -> list[AssignmentWatch]:
    """Messages of one order (or checkout) share a key, hence a partition, whose messages are
    handled in order; offsets are committed only after a message was handled. Returns what
    tells whether each subscriber has joined its group."""
    topics = settings.topics
    watches = [AssignmentWatch(), AssignmentWatch(), AssignmentWatch(settings.writer_workers), AssignmentWatch()]

    @batch_subscriber(broker, topics.checkout_events, group_id(settings, "checkouts"), watches[0], wait_ms=20)
    async def on_checkout_events(message: KafkaMessage) -> None:
        """Checkout events in batches: the newest of each checkout, taken with one insert
        (or a conditional update where it is stored already), committed once per batch."""
        await consume_batch(broker, message, checkout_event_adapter, writer.take_checkouts)
        for record in cast("tuple[ConsumerRecord[bytes, bytes], ...]", message.raw_message):
            intake.handled(record.partition, record.timestamp)

    @batch_subscriber(broker, topics.order_create, group_id(settings, "create"), watches[1], wait_ms=5)
    async def on_order_creates(message: KafkaMessage) -> None:
        """Creates in batches, decided together where they can be (``create_orders``) and
        committed once per batch. The commands of one order share a key, hence a partition,
        and come in order within a batch."""
        await consume_batch(broker, message, order_create_command_adapter, writer.create_orders)

    @broker.subscriber(
        topics.order_commands,
        group_id=group_id(settings, "commands"),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_workers=settings.writer_workers,
        listener=watches[2],
    )
    async def on_order_command(message: KafkaMessage) -> None:
        """Lifecycle and return commands (and the writer's own ``RepublishOutbox``), each
        partition by one of the workers, in order."""
        await consume(broker, message, order_commands_message_adapter, writer.handle)

    pace = Pace(TALLY_PACE_SECONDS)

    @batch_subscriber(broker, topics.order_events, group_id(settings, "tallies"), watches[3], wait_ms=20)
    async def on_order_events(message: KafkaMessage) -> None:
        """The writer's own events, counted in the tallies of their days that list pages
        read (``DayTallies``); committed once per batch, and exact however often one comes."""
        await pace.wait()
        await consume_batch(broker, message, order_event_adapter, lambda events, _: tallies.apply_events(events))

    return watches


async def run(settings: Settings) -> None:
    async with consumer_process(
        settings, "order-writer", "writer", settings.writer_http_port, INDEXES, consumer_groups(settings)
    ) as process:
        intake = CheckoutIntake(
            process.offsets,
            settings.topics.checkout_events,
            group_id(settings, "checkouts"),
            CheckoutProgress(process.db),
        )
        # The order events go out through a producer of their own, without FastStream's
        # telemetry and metrics per message (``publish_all`` makes one span per event).
        events = make_broker(settings, "writer-events", instrumented=False)
        writer = build_writer(settings, process.db, events, intake)
        process.watches += subscribe(process.broker, writer, intake, DayTallies(process.db), settings)
        await start_broker(events)
        await start_broker(process.broker)
        logger.info("order-writer is consuming %s", ", ".join(settings.topics.all()[:3]))
        loops = [
            asyncio.create_task(every(0.5, "measuring checkout intake", intake.measure)),
            asyncio.create_task(every(1.0, "deciding overdue parked creates", writer.decide_overdue)),
            asyncio.create_task(every(5.0, "publishing stale outboxes", writer.publish_stale_outboxes)),
        ]
        try:
            await wait_for_stop_signal()
        finally:
            process.stopping("order-writer")
            for loop in loops:
                loop.cancel()
            await process.broker.stop()
            await writer.marks_written()
            await events.stop()
