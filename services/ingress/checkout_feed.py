"""The ingress's own reading of ``checkout.events``, into ``RecentCheckouts``."""

import logging
from typing import cast

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker, KafkaMessage

from schemas.checkout import checkout_event_adapter
from services.shared.kafka import PoisonMessage, decode

from .metrics import RECENT_CHECKOUTS
from .recent_checkouts import RecentCheckouts

logger = logging.getLogger(__name__)


def follow_checkouts(broker: KafkaBroker, topic: str, recent: RecentCheckouts) -> None:
    """Every process reads every partition from where it ends at the start, in no consumer
    group: nothing is committed, and what came before the start is read from the view. A
    message that cannot be decoded is skipped here; the writer dead-letters it."""

    @broker.subscriber(topic, batch=True, max_records=500, batch_timeout_ms=20, auto_offset_reset="latest")
    async def on_checkout_events(message: KafkaMessage) -> None:
        checkouts = []
        for record in cast("tuple[ConsumerRecord[bytes, bytes], ...]", message.raw_message):
            try:
                checkouts.append(decode(record.value or b"", checkout_event_adapter).checkout)
            except PoisonMessage:
                logger.debug("skipping %s[%d]@%d: not a checkout event", record.topic, record.partition, record.offset)
        recent.take(checkouts)
        RECENT_CHECKOUTS.set(len(recent))
