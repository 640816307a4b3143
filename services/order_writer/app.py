"""The order-writer process: Kafka subscribers and background loops around OrderWriter."""

import asyncio
import logging
import time
from datetime import timedelta

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.subscriber.usecase import ConcurrentBetweenPartitionsSubscriber
from pydantic import TypeAdapter

from schemas.checkout import CheckoutEvent
from schemas.commands import OrderCreateCommand, order_command_adapter
from schemas.events import OrderEvent
from services.shared.checkout_store import CheckoutStore
from services.shared.command_log import CommandLog
from services.shared.kafka import consume, ensure_topics, make_broker, publish, start_broker
from services.shared.mongo import Database, close_client, connect
from services.shared.order_store import OrderStore
from services.shared.runtime import every, wait_for_stop_signal
from services.shared.settings import Settings

from .service import OrderWriter
from .store import ParkedCreates

logger = logging.getLogger(__name__)

CHECKOUT_EVENT = TypeAdapter(CheckoutEvent)
CREATE_COMMAND = TypeAdapter(OrderCreateCommand)


def build_writer(settings: Settings, db: Database, broker: KafkaBroker) -> OrderWriter:
    async def publish_event(event: OrderEvent) -> None:
        await publish(broker, event, settings.topics.order_events, key=event.order_id)

    return OrderWriter(
        OrderStore(db),
        CheckoutStore(db),
        ParkedCreates(db),
        CommandLog(db),
        publish_event,
        checkout_grace=timedelta(seconds=settings.checkout_grace_seconds),
        return_policy=settings.return_policy,
    )


def subscribe(broker: KafkaBroker, writer: OrderWriter, settings: Settings) -> None:
    """Commands of one order share a key, hence a partition, and each partition is handled
    by one worker in order; offsets are committed only after a message was handled."""
    topics, group = settings.topics, settings.topic_prefix + "orders-writer"

    def handled_in_order(topic: str, group_suffix: str, workers: int) -> ConcurrentBetweenPartitionsSubscriber:
        return broker.subscriber(
            topic,
            group_id=f"{group}.{group_suffix}",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            max_workers=workers,
        )

    @handled_in_order(topics.checkout_events, "checkouts", workers=2)
    async def on_checkout_event(message: KafkaMessage) -> None:
        await consume(broker, message, CHECKOUT_EVENT, writer.take_checkout)

    @handled_in_order(topics.order_create, "create", workers=settings.writer_workers)
    async def on_order_create(message: KafkaMessage) -> None:
        await consume(broker, message, CREATE_COMMAND, writer.create_order)

    @handled_in_order(topics.order_commands, "commands", workers=settings.writer_workers)
    async def on_order_command(message: KafkaMessage) -> None:
        await consume(broker, message, order_command_adapter, writer.apply)


async def run(settings: Settings) -> None:
    client, db = await connect(settings)
    await ensure_topics(settings)
    broker = make_broker(settings)
    writer = build_writer(settings, db, broker)
    subscribe(broker, writer, settings)
    await start_broker(broker)
    logger.info("order-writer is consuming %s", ", ".join(settings.topics.all()[:3]))
    loops = [
        asyncio.create_task(every(1.0, "expiring parked creates", writer.expire_parked)),
        asyncio.create_task(every(5.0, "publishing stale outboxes", writer.publish_stale_outboxes)),
    ]
    try:
        await wait_for_stop_signal()
    finally:
        logger.info("order-writer stopping")
        stopping = time.monotonic()
        for loop in loops:
            loop.cancel()
        await broker.stop()
        await close_client(client)
        logger.info("%s stopped in %.1fs", "order-writer", time.monotonic() - stopping)
