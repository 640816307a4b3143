"""Orders and returns as the API, the events and the webhooks show them."""

from enum import StrEnum
from typing import Any

from pydantic import Field

from schemas.base import Timestamp, WireModel
from schemas.catalog import Address, Product


class OrderStatus(StrEnum):
    """``<parent>.<child>``: a filter on the parent matches every child."""

    CREATED = "pending.created"
    CONFIRMED = "pending.confirmed"
    SHIPPED = "pending.shipped"
    DELIVERED = "success.delivered"
    CANCELED_BY_MERCHANT = "canceled.merchant"
    CANCELED_BY_CUSTOMER = "canceled.customer"
    CHECKOUT_NOT_FOUND = "failed.checkout_not_found"
    CHECKOUT_NOT_PAID = "failed.checkout_not_paid"
    CHECKOUT_EXPIRED = "failed.checkout_expired"
    CHECKOUT_ALREADY_ORDERED = "failed.checkout_already_ordered"


class ReturnStatus(StrEnum):
    PENDING_PICKUP = "pending.pickup"
    PICKED_UP = "pending.picked_up"
    REFUNDED = "success.refunded"
    REJECTED = "canceled.rejected"


class Delivery(WireModel):
    tracking_reference: str | None = None
    tracking_url: str | None = Field(default=None, alias="trackingURL")
    address: Address | None = None


class ReturnedProduct(Product):
    """A product in a return: ``quantity`` is the quantity returned."""

    reason: str


class Return(WireModel):
    id: str
    order_id: str
    status: ReturnStatus
    created_at: Timestamp
    picked_up_at: Timestamp | None = None
    succeeded_at: Timestamp | None = None
    products: list[ReturnedProduct]


class OrderHeader(WireModel):
    """An order's first fields, the ones queries filter on: the writer's storage document
    keeps a copy of them beside the whole order (``OrderDocument``)."""

    id: str
    merchant_id: str
    checkout_id: str
    user_id: str | None = None
    idempotency_key: str | None = None
    payment_reference: str | None = None
    amount: int | None = None
    currency: str | None = None
    status: OrderStatus


class Order(OrderHeader):
    products: list[Product] = []
    cart_id: str | None = None
    meta: dict[str, Any] = {}
    webhook_urls: list[str] = []
    created_at: Timestamp
    updated_at: Timestamp
    delivered_at: Timestamp | None = None
    delivery: Delivery = Delivery()
    version: int = Field(ge=1, description="Grows by one with every change of the order.")


class OrderRecord(Order):
    """An order as the writer stores it: the order and all its returns, changed together."""

    returns: list[Return] = []

    def as_order(self) -> Order:
        return Order.model_validate(self.model_dump(exclude={"returns"}))

    def order_json(self) -> str:
        """``as_order().model_dump_json()``, without building the ``Order`` (exports write
        thousands a second)."""
        return self.model_dump_json(exclude={"returns"})
