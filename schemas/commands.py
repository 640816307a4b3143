"""Commands to the order-writer: ``order.create`` and ``order.commands`` (key = order id)."""

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from schemas.base import Timestamp, WireModel
from schemas.checkout import Checkout
from schemas.values import JsonObject, Text

CancelReason = Literal["merchant", "customer"]


class OrderCreateCommand(WireModel):
    """Turn a checkout into an order. Published by the ingress once the request is valid."""

    type: Literal["order.create"] = "order.create"
    command_id: Text
    order_id: Text
    merchant_id: Text
    checkout_id: Text
    idempotency_key: Text | None = None
    payment_reference: Text | None = None
    meta: JsonObject = {}
    webhook_urls: list[Text] = []
    requested_at: Timestamp
    paid_checkout: Checkout | None = Field(
        default=None,
        description="The checkout as the ingress's read view had it when it accepted the request, when it was"
        " the merchant's and paid: the writer decides on it without reading the view again. Absent when the"
        " view did not know the checkout yet (the writer waits for it), and on a retry the view refused (the"
        " writer decides on the view as it is then).",
    )


class _OrderCommandBase(WireModel):
    command_id: Text = Field(description="Unique per command; a re-delivered command is applied once.")
    order_id: Text
    merchant_id: Text = Field(description="The merchant the order must belong to.")
    issued_at: Timestamp


class ConfirmOrder(_OrderCommandBase):
    type: Literal["order.confirm"] = "order.confirm"


class ShipOrder(_OrderCommandBase):
    type: Literal["order.ship"] = "order.ship"
    tracking_reference: Text | None = None
    tracking_url: Text | None = Field(default=None, alias="trackingURL")


class DeliverOrder(_OrderCommandBase):
    type: Literal["order.deliver"] = "order.deliver"


class CancelOrder(_OrderCommandBase):
    type: Literal["order.cancel"] = "order.cancel"
    reason: CancelReason


class ReturnItem(WireModel):
    id: Text = Field(min_length=1, max_length=255, description="The product's id in the order.")
    quantity: int = Field(ge=1, le=1_000_000)
    reason: Text = Field(min_length=1, max_length=255)


class OpenReturn(_OrderCommandBase):
    type: Literal["return.open"] = "return.open"
    return_id: Text
    products: list[ReturnItem] = Field(min_length=1, max_length=100)


class PickUpReturn(_OrderCommandBase):
    type: Literal["return.pickup"] = "return.pickup"
    return_id: Text


class SucceedReturn(_OrderCommandBase):
    type: Literal["return.succeed"] = "return.succeed"
    return_id: Text


class RejectReturn(_OrderCommandBase):
    type: Literal["return.reject"] = "return.reject"
    return_id: Text


OrderCommand = Annotated[
    ConfirmOrder | ShipOrder | DeliverOrder | CancelOrder | OpenReturn | PickUpReturn | SucceedReturn | RejectReturn,
    Field(discriminator="type"),
]
"""One message of ``order.commands``: a lifecycle or return transition."""


class RepublishOutbox(WireModel):
    """The order-writer to itself, on ``order.commands`` under the order's key: publish the
    order's unpublished events (its outbox) and forget them, in the order's turn among its
    commands. FerretDB v1 updates a document by reading it, changing it and writing it back
    whole, so two conditional updates of one order can both match, and the later write
    undoes the other: an outbox cleared beside a command's change could undo the change.
    In the order's turn, nothing else updates it."""

    type: Literal["order.republish_outbox"] = "order.republish_outbox"
    order_id: Text


OrderCommandsMessage = Annotated[OrderCommand | RepublishOutbox, Field(discriminator="type")]
"""One message of ``order.commands``: a command from the ingress, or the writer's own."""

order_commands_message_adapter: TypeAdapter[OrderCommandsMessage] = TypeAdapter(OrderCommandsMessage)
order_create_command_adapter: TypeAdapter[OrderCreateCommand] = TypeAdapter(OrderCreateCommand)
"""One message of ``order.create``."""
