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


EventTypeFilter = Literal["order.status.updated", "returns.status.updated"]
MAX_ENDPOINT_STATUSES = 20


class WebhookEndpointFields(StrictWireModel):
    """What a merchant may set on a webhook endpoint (``POST`` and ``PATCH``)."""

    url: Text | None = Field(default=None, max_length=2048)
    event_types: list[EventTypeFilter] | None = Field(default=None, max_length=2)
    statuses: list[Text] | None = Field(
        default=None,
        max_length=MAX_ENDPOINT_STATUSES,
        description="Statuses or parent statuses (`success`, `canceled.customer`) of the order, or of the return "
        "for returns events; empty or absent: all.",
    )
    description: Text | None = Field(default=None, max_length=500)
    rate_limit_per_second: int | None = Field(default=None, ge=1, le=1000)


class CreateWebhookEndpointRequest(WebhookEndpointFields):
    url: Text = Field(max_length=2048)


class UpdateWebhookEndpointRequest(WebhookEndpointFields):
    enabled: bool | None = None


class WebhookEndpointView(WireModel):
    id: str
    url: str
    event_types: list[EventTypeFilter]
    statuses: list[str]
    description: str | None
    rate_limit_per_second: int | None
    enabled: bool
    created_at: Timestamp


class CreatedWebhookEndpoint(WebhookEndpointView):
    secret: str = Field(description="Shown only here and on rotation.")


class WebhookEndpointList(WireModel):
    data: list[WebhookEndpointView]


class SecretResponse(WireModel):
    secret: str


EndpointAttemptOutcome = Literal["succeeded", "failed"]


class EndpointAttemptView(WireModel):
    event_id: str
    order_id: str
    event_type: EventTypeFilter
    attempt: int
    at: Timestamp
    outcome: EndpointAttemptOutcome
    status_code: int | None
    duration_ms: float
    error: str | None


class EndpointAttemptPage(WireModel):
    data: list[EndpointAttemptView]
    pagination: Pagination


class RecoverRequest(StrictWireModel):
    since: Timestamp


class ResendRequest(StrictWireModel):
    event_id: Text = Field(min_length=1, max_length=100)


class ReconciliationRow(WireModel):
    """One order of a reconciliation report (the CSV columns, in this order)."""

    order_id: str
    created_at: Timestamp
    payment_reference: str | None
    checkout_id: str
    currency: str | None
    amount: int | None
    status: str
    delivered_at: Timestamp | None
    refunded_amount: int
    net_amount: int


class CurrencyTotals(WireModel):
    orders: int = 0
    amount: int = 0
    refunded_amount: int = 0
    net_amount: int = 0


class ReconciliationReport(WireModel):
    """The JSON form of ``GET /reports/reconciliation`` (it is streamed, rows first)."""

    data: list[ReconciliationRow]
    totals: dict[str, CurrencyTotals]


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
