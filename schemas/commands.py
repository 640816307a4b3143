"""Commands to the order-writer: ``order.create`` and ``order.commands`` (key = order id)."""

from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from schemas.base import Timestamp, WireModel

CancelReason = Literal["merchant", "customer"]


class OrderCreateCommand(WireModel):
    """Turn a checkout into an order. Published by the ingress once the request is valid."""

    type: Literal["order.create"] = "order.create"
    command_id: str
    order_id: str
    merchant_id: str
    checkout_id: str
    idempotency_key: str | None = None
    payment_reference: str | None = None
    meta: dict[str, Any] = {}
    webhook_urls: list[str] = []
    requested_at: Timestamp


class _OrderCommandBase(WireModel):
    command_id: str = Field(description="Unique per command; a re-delivered command is applied once.")
    order_id: str
    merchant_id: str = Field(description="The merchant the order must belong to.")
    issued_at: Timestamp


class ConfirmOrder(_OrderCommandBase):
    type: Literal["order.confirm"] = "order.confirm"


class ShipOrder(_OrderCommandBase):
    type: Literal["order.ship"] = "order.ship"
    tracking_reference: str | None = None
    tracking_url: str | None = Field(default=None, alias="trackingURL")


class DeliverOrder(_OrderCommandBase):
    type: Literal["order.deliver"] = "order.deliver"


class CancelOrder(_OrderCommandBase):
    type: Literal["order.cancel"] = "order.cancel"
    reason: CancelReason


class ReturnItem(WireModel):
    id: str = Field(min_length=1, max_length=255, description="The product's id in the order.")
    quantity: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=255)


class OpenReturn(_OrderCommandBase):
    type: Literal["return.open"] = "return.open"
    return_id: str
    products: list[ReturnItem] = Field(min_length=1, max_length=100)


class PickUpReturn(_OrderCommandBase):
    type: Literal["return.pickup"] = "return.pickup"
    return_id: str


class SucceedReturn(_OrderCommandBase):
    type: Literal["return.succeed"] = "return.succeed"
    return_id: str


class RejectReturn(_OrderCommandBase):
    type: Literal["return.reject"] = "return.reject"
    return_id: str


OrderCommand = Annotated[
    ConfirmOrder | ShipOrder | DeliverOrder | CancelOrder | OpenReturn | PickUpReturn | SucceedReturn | RejectReturn,
    Field(discriminator="type"),
]
"""One message of ``order.commands``: a lifecycle or return transition."""

order_command_adapter: TypeAdapter[OrderCommand] = TypeAdapter(OrderCommand)
