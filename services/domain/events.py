"""The event that announces one change of an order."""

from datetime import datetime

from schemas.events import OrderEvent, OrderEventType, event_id_for
from schemas.order import OrderRecord, Return


def event_for(record: OrderRecord, event_type: OrderEventType, refund: Return | None, now: datetime) -> OrderEvent:
    return OrderEvent(
        id=event_id_for(record.id, record.version),
        type=event_type,
        occurred_at=now,
        order_id=record.id,
        merchant_id=record.merchant_id,
        version=record.version,
        order=record.as_order(),
        refund=refund,
    )
