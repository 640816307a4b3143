"""Bodies of the HTTP API (requests are strict: unknown properties are refused)."""

import json
from typing import Any, Literal

from pydantic import Field, field_validator

from schemas.base import StrictWireModel, Timestamp, WireModel
from schemas.catalog import Product
from schemas.commands import CancelReason, ReturnItem
from schemas.order import Order, Return
from schemas.values import JsonObject, Text

MAX_META_BYTES = 16 * 1024
MAX_REQUEST_BYTES = 64 * 1024


class CreateOrderRequest(StrictWireModel):
    checkout_id: Text = Field(min_length=1, max_length=255)
    meta: JsonObject | None = None
    payment_reference: Text | None = Field(default=None, max_length=255)
    webhook_urls: list[Text] | None = Field(default=None, max_length=10)
    idempotency_key: Text | None = Field(default=None, min_length=1, max_length=255)

    @field_validator("meta")
    @classmethod
    def _meta_size(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(json.dumps(value, separators=(",", ":")).encode()) > MAX_META_BYTES:
            raise ValueError(f"must be at most {MAX_META_BYTES} bytes of JSON")
        return value


class ShipRequest(StrictWireModel):
    tracking_reference: Text | None = Field(default=None, max_length=255)
    tracking_url: Text | None = Field(default=None, max_length=2048, alias="trackingURL")


class CancelRequest(StrictWireModel):
    reason: CancelReason


class OpenReturnRequest(StrictWireModel):
    products: list[ReturnItem] = Field(min_length=1, max_length=100)


class IdResponse(WireModel):
    id: str


class ReturnableReasonView(WireModel):
    code: str
    label: str


class ReturnableProduct(Product):
    returnable_quantity: int
    returnable_reasons: list[ReturnableReasonView]


class ReturnsView(WireModel):
    returnable_products: list[ReturnableProduct]
    returns: list[Return]


class OrderView(Order):
    returns: ReturnsView | None = Field(default=None, description="Only with filter.id or filter.idempotencyKey.")


class Pagination(WireModel):
    total_items: int
    current_page: int
    page_size: int
    total_pages: int


class OrderPage(WireModel):
    data: list[OrderView]
    pagination: Pagination


AttemptOutcome = Literal["delivered", "failed", "aborted"]


class WebhookAttemptView(WireModel):
    event_id: str
    url: str
    attempt: int
    attempted_at: Timestamp
    status_code: int | None
    duration_ms: float
    error: str | None
    outcome: AttemptOutcome


class WebhookAttemptPage(WireModel):
    data: list[WebhookAttemptView]
    pagination: Pagination


class ReplayResponse(WireModel):
    replayed: int


class FieldError(WireModel):
    field: str
    message: str


class ProblemDetails(WireModel):
    """An error, as RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(default=None, description="Each offending field, for validation errors.")
