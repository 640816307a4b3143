"""The whole data flow through the real Kafka and MongoDB, with the three services running
as separate processes: checkout event -> POST /orders -> order-writer -> order.events ->
webhook-dispatcher -> a signed POST to the merchant's URL, and GET reads the order back."""

import uuid
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually


async def test_checkout_to_order_to_signed_webhook(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    hook = receiver.url("ok", uuid.uuid4().hex)
    meta = {"internal_user_id": 18729, "source": "app", "language": "ar"}

    async with stack.client(merchant.api_key) as api:
        created = await api.post(
            "/orders",
            json={
                "checkoutId": checkout.checkout.id,
                "meta": meta,
                "paymentReference": "WS94820oPws",
                "webhookUrls": [hook],
                "idempotencyKey": "e2e-" + uuid.uuid4().hex,
            },
        )
        assert created.status_code == 200, created.text
        order_id = created.json()["id"]
        assert uuid.UUID(order_id)

        async def listed() -> list[dict[str, Any]] | None:
            body = (await api.get("/orders", params={"filter.id": order_id})).json()
            return body["data"] or None

        [order] = await eventually(listed)

    assert order["status"] == "pending.created"
    assert order["merchantId"] == merchant.merchant_id
    assert order["checkoutId"] == checkout.checkout.id
    assert order["userId"] == checkout.checkout.user_id
    assert order["cartId"] == checkout.checkout.cart_id
    assert order["amount"] == checkout.checkout.amount == 200000
    assert order["currency"] == "EGP"
    assert order["products"] == [p.model_dump(mode="json") for p in checkout.checkout.products]
    assert order["delivery"]["address"] == checkout.checkout.address.model_dump(mode="json")
    assert order["meta"] == meta
    assert order["paymentReference"] == "WS94820oPws"
    assert order["version"] == 1
    assert "returnableProducts" in order["returns"]

    [webhook] = await receiver.wait_for(hook)
    Webhook(merchant.webhook_secret).verify(webhook.body, webhook.headers)
    assert webhook.headers["content-type"] == "application/json"
    assert webhook.json["event"] == "order.status.updated"
    assert webhook.json["meta"] == meta
    assert webhook.json["order"]["id"] == order_id
    assert webhook.json["order"]["status"] == "pending.created"
    assert webhook.json["order"]["version"] == 1
