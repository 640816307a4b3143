"""Commands as another service would publish them, with fresh ids."""

import uuid
from typing import Any

from schemas.base import utc_now
from schemas.commands import OrderCreateCommand


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
