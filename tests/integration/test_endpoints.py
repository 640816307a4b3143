"""Merchants' webhook endpoints through the real stack: fan-out with filters, one delivery
for a URL that is both an endpoint and an order URL, each endpoint's own secret (two during a
rotation), recovery after downtime, the rate limit under a backlog, and automatic disabling
announced on ``webhook.endpoint.events``."""

import asyncio
import functools
import json
import uuid
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.shared.merchant_store import Credentials
from tests.bench.common import paid_checkouts_in_view
from tests.support.receiver import Received, WebhookReceiver
from tests.support.stack import Stack, eventually


async def register(api: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    response = await api.post("/webhook-endpoints", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def order_for(stack: Stack, merchant: Credentials, urls: list[str] | None = None) -> str:
    checkout = await stack.checkout(merchant.merchant_id)
    return await stack.create_order(merchant.api_key, checkout.checkout.id, **({"webhookUrls": urls} if urls else {}))


def has_status(prefix: str, order: dict[str, Any]) -> bool:
    return str(order["status"]).startswith(prefix)


def of_order(received: list[Received], order_id: str) -> list[Received]:
    return [r for r in received if r.json["order"]["id"] == order_id]


async def test_each_matching_endpoint_gets_each_event_once_signed_with_its_own_secret(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    merchant, other = await stack.merchant(), await stack.merchant()
    every, delivered_only, shared, order_url, foreign = (receiver.url("ok", uuid.uuid4().hex) for _ in range(5))
    async with stack.client(merchant.api_key) as api:
        all_events = await register(api, every)
        await register(api, delivered_only, statuses=["success"])
        both = await register(api, shared, eventTypes=["order.status.updated"])
    async with stack.client(other.api_key) as api:
        await register(api, foreign)

    order_id = await order_for(stack, merchant, [shared, order_url])
    [to_every] = await receiver.wait_for(every)
    [to_shared] = await receiver.wait_for(shared)
    [to_order_url] = await receiver.wait_for(order_url)
    assert to_every.headers["webhook-id"] == to_shared.headers["webhook-id"] == to_order_url.headers["webhook-id"]
    Webhook(all_events["secret"]).verify(to_every.body, to_every.headers)
    Webhook(both["secret"]).verify(to_shared.body, to_shared.headers)  # the endpoint's, not the merchant's
    with pytest.raises(WebhookVerificationError):
        Webhook(merchant.webhook_secret).verify(to_shared.body, to_shared.headers)
    Webhook(merchant.webhook_secret).verify(to_order_url.body, to_order_url.headers)

    async with stack.client(merchant.api_key) as api:
        rotated = (await api.post(f"/webhook-endpoints/{both['id']}/rotate-secret")).json()["secret"]
        for step, status in (("confirm", "pending.confirmed"), ("ship", "pending.shipped"), ("deliver", "success")):
            assert (await api.post(f"/orders/{order_id}/{step}", json={})).status_code == 202
            await stack.order(merchant.api_key, order_id, functools.partial(has_status, status))
    delivered = await receiver.wait_for(delivered_only)
    assert [r.json["order"]["status"] for r in delivered] == ["success.delivered"]
    await receiver.wait_for(shared, count=4)
    newest = of_order(receiver.at(shared), order_id)[-1]
    assert len(newest.headers["webhook-signature"].split(" ")) == 2  # old and new, during the rotation
    Webhook(both["secret"]).verify(newest.body, newest.headers)
    Webhook(rotated).verify(newest.body, newest.headers)
    assert len(receiver.at(shared)) == 4  # one delivery per event, though it is also an order URL
    assert receiver.at(foreign) == []


@pytest.mark.parametrize("own_stack", [{"ORDERS_WEBHOOK_BREAKER_FAILURES": "100"}], indirect=True)
async def test_recover_sends_each_failed_event_again_once_and_says_how_many(
    own_stack: Stack, receiver: WebhookReceiver
) -> None:
    """Three events to an endpoint that is down: 12 failures in a row, which would open its
    circuit in this test's short schedule (so here the breaker waits for 100)."""
    stack = own_stack
    await stack.start()
    merchant = await stack.merchant()
    name = uuid.uuid4().hex
    url = receiver.url("fail", name)
    async with stack.client(merchant.api_key) as api:
        endpoint = await register(api, url)
    orders = [await order_for(stack, merchant) for _ in range(3)]

    async def all_dead() -> bool:
        dead = {"endpointId": endpoint["id"], "state": "dead"}
        return await stack.db.webhook_deliveries.count_documents(dead) == 3

    await eventually(all_dead, timeout=30)
    receiver.heal("fail", name)
    async with stack.client(merchant.api_key) as api:
        path = f"/webhook-endpoints/{endpoint['id']}"
        failed = (await api.get(path + "/attempts", params={"outcome": "failed", "pageSize": "100"})).json()
        assert failed["pagination"]["totalItems"] == 12
        assert {a["orderId"] for a in failed["data"]} == set(orders)
        assert {(a["statusCode"], a["eventType"]) for a in failed["data"]} == {(500, "order.status.updated")}
        recovered = await api.post(path + "/recover", json={"since": "2026-01-01T00:00:00Z"})
        assert (recovered.status_code, recovered.json()) == (202, {"replayed": 3})
    await receiver.wait_for(url, count=15)
    assert sorted(len(of_order(receiver.at(url), o)) for o in orders) == [5, 5, 5]

    async def succeeded() -> list[Any] | None:
        async with stack.client(merchant.api_key) as api:
            page = (await api.get(path + "/attempts", params={"outcome": "succeeded"})).json()
        return page["data"] if len(page["data"]) == 3 else None

    assert {a["attempt"] for a in await eventually(succeeded)} == {5}
    async with stack.client(merchant.api_key) as api:  # nothing failed is left: a second recovery sends nothing
        again = await api.post(path + "/recover", json={"since": "2026-01-01T00:00:00Z"})
    assert again.json() == {"replayed": 0}


def busiest_second(received: list[Received]) -> int:
    """The most requests that arrived within any one second."""
    times = sorted(r.at for r in received)
    return max((sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times)), default=0)


@pytest.mark.parametrize("own_stack", [{"ORDERS_WEBHOOK_TIMEOUT_SECONDS": "5"}], indirect=True)
async def test_a_rate_limited_endpoint_gets_at_most_its_rate_while_others_keep_their_pace(
    own_stack: Stack, receiver: WebhookReceiver
) -> None:
    stack = own_stack
    await stack.start()
    merchant = await stack.merchant()
    limited, free = receiver.url("ok", uuid.uuid4().hex), receiver.url("ok", uuid.uuid4().hex)
    async with stack.client(merchant.api_key) as api:
        await register(api, limited, rateLimitPerSecond=5)
        await register(api, free)
    checkouts = await paid_checkouts_in_view(stack, merchant.merchant_id, 500)
    async with stack.client(merchant.api_key) as api:
        for start in range(0, 500, 50):
            answers = await asyncio.gather(
                *(api.post("/orders", json={"checkoutId": c.id}) for c in checkouts[start : start + 50])
            )
            assert {a.status_code for a in answers} == {200}
    await receiver.wait_for(free, count=500, timeout=120)
    # Counted from here: the receiver shares this test's event loop, which was busy sending
    # 500 requests until now and would have read arrivals late, in bunches. Hundreds of
    # events still wait for the limited endpoint.
    quiet_from = len(receiver.at(limited))
    await receiver.wait_for(limited, count=quiet_from + 30, timeout=30)
    measured = receiver.at(limited)[quiet_from:]
    assert busiest_second(measured) <= 5
    assert busiest_second(receiver.at(free)) > 5  # the other endpoint was not held to the cap
    queued = await stack.db.webhook_deliveries.count_documents({"url": limited})
    assert queued > 300
    print(
        f"\nlimited endpoint: {len(measured)} requests in {measured[-1].at - measured[0].at:.1f}s, busiest second "
        f"{busiest_second(measured)}, {queued} still waiting; free endpoint: all 500 in "
        f"{receiver.at(free)[-1].at - receiver.at(free)[0].at:.1f}s, busiest second {busiest_second(receiver.at(free))}"
    )
    attempts = [a async for a in stack.db.webhook_attempts.find({"url": limited})]
    assert {(a["attempt"], a["outcome"]) for a in attempts} == {(1, "delivered")}  # waiting spent no attempt


@pytest.mark.parametrize(
    "own_stack",
    [{"ORDERS_WEBHOOK_DISABLE_AFTER_HOURS": "0.0005", "ORDERS_WEBHOOK_RETRY_SCHEDULE": "0,0.5,0.5,0.5,0.5,0.5"}],
    indirect=True,
)
async def test_an_endpoint_failing_too_long_is_disabled_announced_and_can_be_enabled(
    own_stack: Stack, receiver: WebhookReceiver
) -> None:
    stack = own_stack
    await stack.start()
    merchant = await stack.merchant()
    name = uuid.uuid4().hex
    url = receiver.url("fail", name)
    async with stack.client(merchant.api_key) as api:
        endpoint = await register(api, url)
        path = f"/webhook-endpoints/{endpoint['id']}"
        await order_for(stack, merchant)

        async def disabled() -> bool:
            return (await api.get(path)).json()["enabled"] is False

        await eventually(disabled, timeout=30)  # every attempt failed for 1.8 s
        records = await stack.topic_records(stack.settings.topics.webhook_endpoint_events)
        announced = [json.loads(r.value or b"{}") for r in records]
        assert [(a["type"], a["endpointId"], a["merchantId"], a["url"]) for a in announced] == [
            ("webhook.endpoint.disabled", endpoint["id"], merchant.merchant_id, url)
        ]
        sent = len(receiver.at(url))
        receiver.heal("fail", name)
        witness = receiver.url("ok", uuid.uuid4().hex)
        quiet_order = await order_for(stack, merchant, [witness])
        await receiver.wait_for(witness)  # its event was taken: the endpoint's delivery was queued with it

        async def dropped() -> bool:
            queued = {"orderId": quiet_order, "endpointId": endpoint["id"]}
            return await stack.db.webhook_deliveries.count_documents(queued) == 0

        await eventually(dropped)
        assert len(receiver.at(url)) == sent  # nothing more reached the disabled endpoint

        assert (await api.patch(path, json={"enabled": True})).json()["enabled"] is True
        woken = await order_for(stack, merchant)
    await receiver.wait_for(url, count=sent + 1)
    assert [r.json["order"]["id"] for r in receiver.at(url)[sent:]] == [woken]
