"""Builders of domain objects for tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.catalog import Address, Product
from schemas.checkout import Checkout, CheckoutStatus
from schemas.commands import OrderCreateCommand
from schemas.order import OrderRecord, OrderStatus, Return, ReturnedProduct, ReturnStatus
from schemas.storage.endpoints import EndpointSecret, WebhookEndpointDocument
from services.domain.returns import DEFAULT_RETURN_REASONS, ReturnPolicy

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = ReturnPolicy(window_days=14, reasons=DEFAULT_RETURN_REASONS)


def address() -> Address:
    return Address(
        first_name="Mona", last_name="Hassan", phone="+20100", line1="12 Nile St", city="Cairo", country="EG"
    )


def products() -> list[Product]:
    return [
        Product(id="p1", sku="A", name="Shirt", quantity=4, unit_price=1000),
        Product(id="p2", sku="B", name="Mug", quantity=1, unit_price=500),
    ]


def checkout(status: CheckoutStatus = CheckoutStatus.PAID, version: int = 1, merchant_id: str = "m1") -> Checkout:
    return Checkout(
        id="c1",
        merchant_id=merchant_id,
        user_id="u1",
        cart_id="cart1",
        status=status,
        currency="EGP",
        amount=4500,
        products=products(),
        address=address(),
        version=version,
    )


def create_command(**overrides: Any) -> OrderCreateCommand:
    fields: dict[str, Any] = {
        "command_id": "cmd-create",
        "order_id": "o1",
        "merchant_id": "m1",
        "checkout_id": "c1",
        "idempotency_key": "k1",
        "meta": {"source": "app"},
        "webhook_urls": ["https://merchant.example.com/hook"],
        "requested_at": NOW,
    }
    return OrderCreateCommand(**(fields | overrides))


def order(
    status: OrderStatus = OrderStatus.CREATED, *, delivered_days_ago: float | None = None, **overrides: Any
) -> OrderRecord:
    delivered_at = NOW - timedelta(days=delivered_days_ago) if delivered_days_ago is not None else None
    fields: dict[str, Any] = {
        "id": "o1",
        "merchant_id": "m1",
        "checkout_id": "c1",
        "status": status,
        "products": products(),
        "amount": 4500,
        "currency": "EGP",
        "created_at": NOW - timedelta(days=30),
        "updated_at": NOW - timedelta(days=30),
        "delivered_at": delivered_at,
        "version": 3,
    }
    return OrderRecord(**(fields | overrides))


def a_return(return_id: str, status: ReturnStatus, quantity: int, product_id: str = "p1") -> Return:
    product = next(p for p in products() if p.id == product_id)
    returned = ReturnedProduct.model_validate({**product.model_dump(), "quantity": quantity, "reason": "changed_mind"})
    return Return(id=return_id, order_id="o1", status=status, created_at=NOW - timedelta(days=1), products=[returned])


ENDPOINT_SECRET = "whsec_" + "ZW5kcG9pbnQtc2VjcmV0LWVuZHBvaW50LXNlY3JldA=="


def webhook_endpoint(url: str, **fields: Any) -> WebhookEndpointDocument:
    return WebhookEndpointDocument.model_validate(
        {
            "id": f"ep-{url}",
            "merchant_id": "m1",
            "url": url,
            "event_types": ["order.status.updated", "returns.status.updated"],
            "statuses": [],
            "enabled_at": NOW,
            "created_at": NOW,
            "secrets": [EndpointSecret(secret=ENDPOINT_SECRET)],
        }
        | fields
    )
