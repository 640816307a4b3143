"""The webhook-dispatcher process: consumes ``order.events`` and runs the retry loop."""

import asyncio
import logging
import time

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter

from schemas.events import OrderEvent
from schemas.webhook_commands import ReplayDeadLetters
from services.shared.kafka import consume, consume_batch, ensure_topics, make_broker, start_broker
from services.shared.merchant_store import MerchantStore
from services.shared.mongo import close_client, connect
from services.shared.runtime import every, wait_for_stop_signal
from services.shared.settings import Settings

from .sender import WebhookSender
from .service import Dispatcher
from .store import INDEXES, DeliveryStore

logger = logging.getLogger(__name__)

ORDER_EVENT = TypeAdapter(OrderEvent)
REPLAY = TypeAdapter(ReplayDeadLetters)


def subscribe(broker: KafkaBroker, dispatcher: Dispatcher, store: DeliveryStore, settings: Settings) -> None:
    """Events are taken in batches and committed once their deliveries are queued (one
    write and one commit a batch); the attempts run on their own."""

    @broker.subscriber(
        settings.topics.order_events,
        group_id=settings.topic_prefix + "orders-webhook-dispatcher",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        batch=True,
        max_records=500,
        batch_timeout_ms=50,
    )
    async def on_order_events(message: KafkaMessage) -> None:
        await consume_batch(broker, message, ORDER_EVENT, dispatcher.take_events)

    @broker.subscriber(
        settings.topics.webhook_commands,
        group_id=settings.topic_prefix + "orders-webhook-dispatcher.commands",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
    )
    async def on_webhook_command(message: KafkaMessage) -> None:
        async def replay(command: ReplayDeadLetters) -> None:
            replayed = await store.replay(command.selector)
            logger.info("replay %s: %d dead letters are due again", command.command_id, replayed)

        await consume(broker, message, REPLAY, replay)


async def run(settings: Settings) -> None:
    client, db = await connect(settings, INDEXES)
    await ensure_topics(settings)
    sender = WebhookSender(
        timeout_seconds=settings.webhook_timeout_seconds,
        allow_private=settings.allow_private_webhooks,
        connections=settings.webhook_concurrency,
    )
    await sender.start()
    store = DeliveryStore(db)
    dispatcher = Dispatcher(store, MerchantStore(db), sender, settings)
    broker = make_broker(settings)
    subscribe(broker, dispatcher, store, settings)
    await start_broker(broker)
    loops = [
        asyncio.create_task(every(0.5, "taking due webhook deliveries", dispatcher.take_due)),
        asyncio.create_task(every(0.1, "recording webhook attempts", dispatcher.record_outcomes)),
    ]
    logger.info("webhook-dispatcher is consuming %s", settings.topics.order_events)
    try:
        await wait_for_stop_signal()
    finally:
        logger.info("webhook-dispatcher stopping")
        stopping = time.monotonic()
        await broker.stop()
        for loop in loops:
            loop.cancel()
        await dispatcher.drain(timeout=settings.webhook_timeout_seconds)
        await sender.close()
        await close_client(client)
        logger.info("%s stopped in %.1fs", "webhook-dispatcher", time.monotonic() - stopping)
