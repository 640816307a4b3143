"""Walking an order through its lifecycle over HTTP, waiting for each step's effect."""

from typing import Any

from services.shared.merchant_store import Credentials
from tests.support.stack import Stack


async def new_order(stack: Stack, merchant: Credentials, **fields: Any) -> str:
    checkout = await stack.checkout(merchant.merchant_id)
    order_id = await stack.create_order(merchant.api_key, checkout.checkout.id, **fields)
    await stack.order(merchant.api_key, order_id)
    return order_id


async def step(
    stack: Stack, merchant: Credentials, path: str, expected_status: str, body: Any = None
) -> dict[str, Any]:
    """POST a lifecycle call, expect 202, and wait until the order shows its effect."""
    async with stack.client(merchant.api_key) as api:
        response = await api.post(path, json=body)
    assert response.status_code == 202, response.text
    order_id = path.split("/")[2]
    return await stack.order(merchant.api_key, order_id, lambda o: o["status"] == expected_status)


async def deliver(stack: Stack, merchant: Credentials, order_id: str) -> dict[str, Any]:
    await step(stack, merchant, f"/orders/{order_id}/confirm", "pending.confirmed")
    await step(stack, merchant, f"/orders/{order_id}/ship", "pending.shipped", {"trackingReference": "TR-1"})
    return await step(stack, merchant, f"/orders/{order_id}/deliver", "success.delivered")
