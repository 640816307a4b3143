"""The webhook-dispatcher process: consumes ``order.events`` and runs the retry loop."""

import asyncio
import logging

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter

from schemas.endpoint_events import WebhookEndpointDisabled
from schemas.events import order_event_adapter
from schemas.webhook_commands import RecoverDeliveries, ReplayDeadLetters, WebhookCommand
from services.ingress.endpoint_queries import EndpointQueries
from services.shared.consumer_process import consumer_process
from services.shared.kafka import (
    AssignmentWatch,
    batch_subscriber,
    consume,
    consume_batch,
    publish,
    start_broker,
)
from services.shared.merchant_store import MerchantStore
from services.shared.runtime import every, wait_for_stop_signal
from services.shared.settings import Settings

from .ports import Endpoints
from .sender import WebhookSender
from .service import Dispatcher
from .store import INDEXES, DeliveryStore, EndpointHealthStore

logger = logging.getLogger(__name__)

WEBHOOK_COMMAND: TypeAdapter[WebhookCommand] = TypeAdapter(WebhookCommand)


def consumer_groups(settings: Settings) -> dict[str, str]:
    """The dispatcher's consumer groups and the topic each reads."""
    return {
        settings.topic_prefix + "orders-webhook-dispatcher": settings.topics.order_events,
        settings.topic_prefix + "orders-webhook-dispatcher.commands": settings.topics.webhook_commands,
    }


def subscribe(
    broker: KafkaBroker, dispatcher: Dispatcher, store: DeliveryStore, settings: Settings
) -> list[AssignmentWatch]:
    """Events are taken in batches and committed once their deliveries are queued (one
    write and one commit a batch); the attempts run on their own. Returns what tells
    whether each subscriber has joined its group."""
    (events_group, commands_group), watches = consumer_groups(settings), [AssignmentWatch(), AssignmentWatch()]

    @batch_subscriber(broker, settings.topics.order_events, events_group, watches[0], wait_ms=50)
    async def on_order_events(message: KafkaMessage) -> None:
        await consume_batch(broker, message, order_event_adapter, dispatcher.take_events)

    @broker.subscriber(
        settings.topics.webhook_commands,
        group_id=commands_group,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        listener=watches[1],
    )
    async def on_webhook_command(message: KafkaMessage) -> None:
        async def carry_out(command: WebhookCommand) -> None:
            if isinstance(command, ReplayDeadLetters):
                replayed = await store.replay(command.selector)
                logger.info("replay %s: %d dead letters are due again", command.command_id, replayed)
            elif isinstance(command, RecoverDeliveries):
                recovered = await store.recover(command)
                logger.info("recovery %s: %d deliveries are due again", command.command_id, recovered)

        await consume(broker, message, WEBHOOK_COMMAND, carry_out)

    return watches


async def run(settings: Settings) -> None:
    async with consumer_process(
        settings, "webhook-dispatcher", "dispatcher", settings.dispatcher_http_port, INDEXES, consumer_groups(settings)
    ) as process:
        sender = WebhookSender(
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private=settings.allow_private_webhooks,
            connections=settings.webhook_concurrency,
        )
        await sender.start()
        store = DeliveryStore(process.db)

        async def announce(event: WebhookEndpointDisabled) -> None:
            await publish(process.broker, event, settings.topics.webhook_endpoint_events, key=event.endpoint_id)

        endpoints = Endpoints(EndpointQueries(process.db), EndpointHealthStore(process.db), announce)
        dispatcher = Dispatcher(store, MerchantStore(process.db), sender, settings, endpoints)
        process.watches += subscribe(process.broker, dispatcher, store, settings)
        await start_broker(process.broker)
        loops = [
            asyncio.create_task(every(0.5, "taking due webhook deliveries", dispatcher.take_due)),
            asyncio.create_task(every(0.1, "recording webhook attempts", dispatcher.record_outcomes)),
            asyncio.create_task(
                every(settings.metrics_interval_seconds, "measuring the delivery queue", store.export_gauges)
            ),
        ]
        logger.info("webhook-dispatcher is consuming %s", settings.topics.order_events)
        try:
            await wait_for_stop_signal()
        finally:
            process.stopping("webhook-dispatcher")
            await process.broker.stop()
            for loop in loops:
                loop.cancel()
            await dispatcher.drain(timeout=settings.webhook_timeout_seconds)
            await sender.close()
