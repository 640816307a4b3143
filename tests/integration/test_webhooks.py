"""Webhook delivery through the real stack, against receivers the test runs: fast, slow,
flaky (every other request fails), always 500, hanging, 410, abort header, redirect, and a
closed port. Retry schedule in tests: 0, 0.3, 0.6, 1 s (4 attempts); timeout 2 s."""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from schemas.base import utc_now
from services.domain.webhooks import url_for_logs
from services.shared.merchant_store import Credentials, MerchantStore
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually, free_port

FINAL = {"delivered", "aborted", "dead"}


async def new_order(stack: Stack, merchant: Credentials, urls: list[str], **fields: Any) -> str:
    checkout = await stack.checkout(merchant.merchant_id)
    return await stack.create_order(merchant.api_key, checkout.checkout.id, webhookUrls=urls, **fields)


async def outcomes(stack: Stack, order_id: str, count: int) -> dict[str, tuple[str, int]]:
    """Per URL of the order: (state, attempts), once ``count`` URLs are settled. A delivered
    delivery has left the queue and shows in the attempt history; a dead or aborted one
    stays in the queue in that state."""

    async def settled() -> dict[str, tuple[str, int]] | None:
        queued = {d["url"]: d["state"] async for d in stack.db.webhook_deliveries.find({"orderId": order_id})}
        attempts: dict[str, list[str]] = {}
        async for attempt in stack.db.webhook_attempts.find({"orderId": order_id}).sort("attemptedAt", 1):
            attempts.setdefault(attempt["url"], []).append(attempt["outcome"])
        found = {}
        for url, history in attempts.items():
            state = queued.get(url, "delivered" if "delivered" in history else "pending")
            found[url] = (state, len(history))
        return found if sum(state in FINAL for state, _ in found.values()) >= count else None

    return await eventually(settled, timeout=40)


def cli(stack: Stack, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


async def test_every_url_is_delivered_on_its_own(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant = await stack.merchant()
    name = uuid.uuid4().hex
    behaviours = ["ok", "slow", "flaky", "fail", "hang", "gone", "abort", "redirect"]
    urls = {b: receiver.url(b, name) for b in behaviours} | {"closed": f"http://127.0.0.1:{free_port()}/closed"}
    accepted = time.monotonic()
    order_id = await new_order(stack, merchant, list(urls.values()))

    [healthy] = await receiver.wait_for(urls["ok"])
    [hanging, *_] = await receiver.wait_for(urls["hang"])
    # The healthy URL was served while the hanging one was still hanging: the hanging
    # attempt started, and only its timeout (2 s) could have ended it.
    assert healthy.at < hanging.at + 2.0
    print(
        f"\nhealthy URL served {healthy.at - accepted:.3f}s after the order was accepted;"
        f" the hanging attempt began at {hanging.at - accepted:.3f}s"
    )
    Webhook(merchant.webhook_secret).verify(healthy.body, healthy.headers)

    found = await outcomes(stack, order_id, len(urls))
    summary = {b: found[u] for b, u in urls.items()}
    assert summary == {
        "ok": ("delivered", 1),
        "slow": ("delivered", 1),
        "flaky": ("delivered", 2),
        "fail": ("dead", 4),
        "hang": ("dead", 4),
        "gone": ("aborted", 1),
        "abort": ("aborted", 1),
        "redirect": ("dead", 4),
        "closed": ("dead", 4),
    }
    assert receiver.at(receiver.url("ok", name)) == [healthy]  # the redirect was not followed
    ids = {r.headers["webhook-id"] for b in behaviours for r in receiver.at(urls[b])}
    assert len(ids) == 1  # every attempt of every URL carries the event's id

    async with stack.client(merchant.api_key) as api:
        response = await api.get(f"/orders/{order_id}/webhook-deliveries", params={"pageSize": "100"})
    assert response.status_code == 200
    attempts = response.json()["data"]
    assert len(attempts) == 1 + 1 + 2 + 4 + 4 + 1 + 1 + 4 + 4
    assert [a["attemptedAt"] for a in attempts] == sorted((a["attemptedAt"] for a in attempts), reverse=True)
    by_url: dict[str, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_url.setdefault(attempt["url"], []).append(attempt)
    assert [a["statusCode"] for a in reversed(by_url[urls["flaky"]])] == [503, 200]
    assert {a["error"] for a in by_url[urls["hang"]]} == {"Timeout"}
    assert {a["error"] for a in by_url[urls["closed"]]} == {"ClientConnectorError"}
    assert {a["statusCode"] for a in by_url[urls["redirect"]]} == {302}
    assert all(a["durationMs"] >= 0 for a in attempts)

    dead = [d for d in cli(stack, "dlq", "list") if d["orderId"] == order_id]
    assert {d["url"] for d in dead} == {urls["fail"], urls["hang"], urls["redirect"], urls["closed"]}

    receiver.heal("fail", name)
    [replay] = cli(stack, "dlq", "replay", "--url", urls["fail"])
    assert replay["replayed"] == 1
    requests = await receiver.wait_for(urls["fail"], count=5)
    Webhook(merchant.webhook_secret).verify(requests[-1].body, requests[-1].headers)
    after_replay = await outcomes(stack, order_id, len(urls))
    assert after_replay[urls["fail"]] == ("delivered", 5)


async def test_admin_replay_over_http(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant, admin = await stack.merchant(), await stack.merchant(admin=True)
    url = receiver.url("fail", uuid.uuid4().hex)
    order_id = await new_order(stack, merchant, [url])
    await outcomes(stack, order_id, 1)
    receiver.heal("fail", url.rsplit("/", 1)[1])
    async with stack.client(merchant.api_key) as api:
        assert (await api.post("/admin/webhook-dead-letters/replay", json={"orderId": order_id})).status_code == 404
    async with stack.client(admin.api_key) as api:
        everything = await api.post("/admin/webhook-dead-letters/replay", json={})
        response = await api.post("/admin/webhook-dead-letters/replay", json={"orderId": order_id})
    assert everything.status_code == 422  # an explicit selector, or {"all": true}
    assert (response.status_code, response.json()) == (202, {"replayed": 1})
    await receiver.wait_for(url, count=5)  # the dispatcher replays it, on the command


async def test_secrets_and_url_tokens_never_reach_the_logs(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant = await stack.merchant()
    token = "token-" + uuid.uuid4().hex
    failing = receiver.url("fail", uuid.uuid4().hex) + f"?token={token}"
    order_id = await new_order(stack, merchant, [receiver.url("ok", uuid.uuid4().hex), failing])
    assert (await outcomes(stack, order_id, 2))[failing] == ("dead", 4)
    dead = await stack.db.webhook_deliveries.find_one({"orderId": order_id, "state": "dead"})
    assert dead is not None

    async def dead_letter_logged() -> str | None:
        text = "\n".join(process.log() for process in stack.processes.values())
        return text if f"delivery {dead['_id']} to" in text else None

    text = await eventually(dead_letter_logged)
    for secret in (merchant.api_key, merchant.webhook_secret, token):
        assert secret not in text
    assert f"delivery {dead['_id']} to {url_for_logs(failing)} is dead-lettered" in text


async def test_the_attempt_log_is_paginated_and_private(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant, other = await stack.merchant(), await stack.merchant()
    url = receiver.url("fail", uuid.uuid4().hex)
    order_id = await new_order(stack, merchant, [url])
    await outcomes(stack, order_id, 1)
    async with stack.client(merchant.api_key) as api:
        page = (await api.get(f"/orders/{order_id}/webhook-deliveries", params={"pageSize": "3", "page": "2"})).json()
        assert page["pagination"] == {"totalItems": 4, "currentPage": 2, "pageSize": 3, "totalPages": 2}
        assert [a["attempt"] for a in page["data"]] == [1]
        assert (await api.get(f"/orders/{order_id}/webhook-deliveries", params={"pageSize": "0"})).status_code == 400
    async with stack.client(other.api_key) as api:
        assert (await api.get(f"/orders/{order_id}/webhook-deliveries")).status_code == 404


async def test_during_secret_rotation_both_secrets_sign(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant = await stack.merchant()
    new_secret = await MerchantStore(stack.db).rotate_secret(merchant.merchant_id)
    url = receiver.url("ok", uuid.uuid4().hex)
    await new_order(stack, merchant, [url])
    [webhook] = await receiver.wait_for(url)
    assert len(webhook.headers["webhook-signature"].split(" ")) == 2
    Webhook(merchant.webhook_secret).verify(webhook.body, webhook.headers)
    Webhook(new_secret).verify(webhook.body, webhook.headers)


@pytest.mark.parametrize("own_stack", [{"ORDERS_ALLOW_PRIVATE_WEBHOOKS": "false"}], indirect=True)
async def test_names_resolving_inside_the_network_are_refused_at_delivery(
    own_stack: Stack, receiver: WebhookReceiver
) -> None:
    """``localhost`` passes the request-time check (it is a name, not an address); the
    dispatcher resolves it, sees a loopback address and does not connect."""
    await own_stack.start()
    merchant = await own_stack.merchant()
    url = f"http://localhost:{receiver.port}/ok/{uuid.uuid4().hex}"
    order_id = await new_order(own_stack, merchant, [url])
    found = await outcomes(own_stack, order_id, 1)
    assert found[url] == ("dead", 4)
    errors = {a["error"] async for a in own_stack.db.webhook_attempts.find({"orderId": order_id})}
    assert errors == {"ForbiddenDestination"}
    assert receiver.at(url) == []


@pytest.mark.parametrize("own_stack", [{"ORDERS_WEBHOOK_PER_URL_CONCURRENCY": "2"}], indirect=True)
async def test_killing_the_dispatcher_loses_no_delivery(own_stack: Stack, receiver: WebhookReceiver) -> None:
    """SIGKILL in the middle of a stream: every event still reaches every URL at least once
    (stored deliveries are taken up again when their lease runs out; events not yet
    committed are consumed again)."""
    await own_stack.start()
    merchant = await own_stack.merchant()
    name = uuid.uuid4().hex
    urls = [receiver.url("ok", name), receiver.url("slow", name)]
    orders = list(await asyncio.gather(*(new_order(own_stack, merchant, urls) for _ in range(20))))
    await receiver.wait_for(urls[1], count=4, timeout=30)
    own_stack.processes["dispatcher"].kill()
    killed_with = len(receiver.at(urls[1]))
    assert killed_with < len(orders), "the kill must land while deliveries are still under way"
    own_stack.processes["dispatcher"].start()
    for url in urls:

        async def all_orders_arrived(url: str = url) -> bool:
            return {r.json["order"]["id"] for r in receiver.at(url)} == set(orders)

        await eventually(all_orders_arrived, timeout=60)
    print(f"\nkilled after {killed_with} of 20 slow deliveries; all 20 arrived at both URLs afterwards")


@pytest.mark.parametrize("own_stack", [{"ORDERS_WEBHOOK_RETRY_SCHEDULE": "0,3"}], indirect=True)
async def test_a_retry_due_later_survives_a_restart(own_stack: Stack, receiver: WebhookReceiver) -> None:
    """The first attempt fails; the retry is due 3 s later. No dispatcher runs when it
    falls due; the one started afterwards attempts it at once, from the stored due time."""
    await own_stack.start()
    merchant = await own_stack.merchant()
    name = uuid.uuid4().hex
    url = receiver.url("fail", name)
    await new_order(own_stack, merchant, [url])
    await receiver.wait_for(url, count=1)
    own_stack.processes["dispatcher"].stop()

    async def retry_overdue() -> bool:
        delivery = await own_stack.db.webhook_deliveries.find_one({"url": url})
        return delivery is not None and delivery["dueAt"] < utc_now()

    await eventually(retry_overdue, timeout=10)
    receiver.heal("fail", name)
    restarted = time.monotonic()
    own_stack.processes["dispatcher"].start()
    requests = await receiver.wait_for(url, count=2, timeout=30)
    assert len(requests) == 2
    print(f"\nthe overdue retry was attempted {requests[1].at - restarted:.1f}s after the dispatcher started")


@pytest.mark.parametrize(
    "own_stack",
    [
        {
            "ORDERS_WEBHOOK_BREAKER_FAILURES": "2",
            "ORDERS_WEBHOOK_BREAKER_COOLDOWN_SECONDS": "1",
            "ORDERS_WEBHOOK_RETRY_SCHEDULE": "0,0.3,0.6,1,1,1,1,1",
        }
    ],
    indirect=True,
)
async def test_an_open_circuit_postpones_deliveries_without_spending_their_attempts(
    own_stack: Stack, receiver: WebhookReceiver
) -> None:
    """Two failures open the URL's circuit. While it is open its deliveries are postponed,
    with one probe a cooldown, instead of attempted: the endpoint is spared, the deliveries
    keep their attempts, and every one arrives once the endpoint heals. (Without the
    circuit, six deliveries would reach a failing endpoint about 25 times in 3 s.)"""
    await own_stack.start()
    merchant = await own_stack.merchant()
    name = uuid.uuid4().hex
    url = receiver.url("fail", name)
    orders = [await new_order(own_stack, merchant, [url]) for _ in range(6)]
    await asyncio.sleep(3)
    while_down = len(receiver.at(url))
    receiver.heal("fail", name)
    for order_id in orders:
        assert (await outcomes(own_stack, order_id, 1))[url][0] == "delivered"
    assert 2 <= while_down <= 12, while_down
