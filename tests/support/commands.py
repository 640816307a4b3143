"""Commands (and events) as another service would publish them, with fresh ids."""

import uuid
from datetime import datetime
from typing import Any

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.commands import OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderStatus
from services.domain.creation import build_order
from services.domain.events import event_for
from tests.support.demo import demo_checkout


def create_command(merchant_id: str, checkout_id: str, **fields: Any) -> OrderCreateCommand:
    """An order.create with fresh ids, requested now unless ``fields`` say otherwise."""
    return OrderCreateCommand(
        **(
            {
                "command_id": str(uuid.uuid4()),
                "order_id": str(uuid.uuid4()),
                "merchant_id": merchant_id,
                "checkout_id": checkout_id,
                "requested_at": utc_now(),
            }
            | fields
        )
    )


def command_fields(merchant_id: str, order_id: str) -> dict[str, Any]:
    """The fields every lifecycle or return command carries."""
    return {"command_id": str(uuid.uuid4()), "order_id": order_id, "merchant_id": merchant_id, "issued_at": utc_now()}


def creation_event(merchant_id: str, webhook_urls: list[str], now: datetime | None = None) -> OrderEvent:
    """The first event of a new order (with a paid demo checkout) and ``webhook_urls``, as the
    writer would publish it: for feeding ``order.events`` straight."""
    now = now or utc_now()
    checkout = demo_checkout(merchant_id, str(uuid.uuid4()), CheckoutStatus.PAID, 1).checkout
    command = create_command(merchant_id, checkout.id, webhook_urls=webhook_urls, requested_at=now)
    return event_for(build_order(command, checkout, OrderStatus.CREATED, now), "order.status.updated", None, now)
