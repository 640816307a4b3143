"""Webhook bodies sent to merchants' URLs."""

from typing import Any, Literal

from pydantic import Field

from schemas.base import WireModel
from schemas.order import Order, Return


class OrderStatusWebhook(WireModel):
    event: Literal["order.status.updated"] = "order.status.updated"
    order: Order
    meta: dict[str, Any]


class ReturnStatusWebhook(WireModel):
    event: Literal["returns.status.updated"] = "returns.status.updated"
    refund: Return
    order_id: str
    meta: dict[str, Any]
    version: int = Field(description="The order's version after this change, for dropping stale deliveries.")
