"""``checkout.events``: the upstream checkout service's view of checkouts."""

from enum import StrEnum
from typing import Literal

from pydantic import Field, TypeAdapter

from schemas.base import Timestamp, WireModel
from schemas.catalog import Address, Product


class CheckoutStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"


class Checkout(WireModel):
    id: str = Field(min_length=1, max_length=255)
    merchant_id: str = Field(min_length=1, max_length=255)
    user_id: str
    cart_id: str
    status: CheckoutStatus
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217.")
    amount: int = Field(ge=0, description="Minor units.")
    products: list[Product]
    address: Address
    version: int = Field(ge=0)


class CheckoutEvent(WireModel):
    """One message of ``checkout.events``; key = checkout id."""

    type: Literal["checkout.updated", "checkout.paid", "checkout.expired"]
    occurred_at: Timestamp
    checkout: Checkout


checkout_event_adapter: TypeAdapter[CheckoutEvent] = TypeAdapter(CheckoutEvent)
"""Decodes ``checkout.events`` messages (the writer's intake, the ingress's memory)."""
