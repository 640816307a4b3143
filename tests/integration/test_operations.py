"""Operating the service: /health, /ready and /metrics on every process, bounded metric
labels, and JSON logs that carry ids and never secrets."""

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from services.domain.webhooks import url_for_logs
from services.ingress.endpoint_routes import router as endpoint_router
from services.ingress.portal import router as portal_router
from services.ingress.report_routes import router as report_router
from services.ingress.routes import router
from services.shared.merchant_store import Credentials
from services.shared.metrics import UNMATCHED_ROUTE
from tests.support.metrics import Samples, metrics, value
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually, free_port


async def new_order(stack: Stack, merchant: Credentials, urls: list[str]) -> str:
    checkout = await stack.checkout(merchant.merchant_id)
    return await stack.create_order(merchant.api_key, checkout.checkout.id, webhookUrls=urls)


async def test_every_process_answers_health_ready_and_metrics(stack: Stack, receiver: WebhookReceiver) -> None:
    merchant = await stack.merchant()
    delivered, failing = receiver.url("ok", uuid.uuid4().hex), receiver.url("fail", uuid.uuid4().hex)
    order_id = await new_order(stack, merchant, [delivered, failing])
    await receiver.wait_for(delivered)
    poison_key = str(uuid.uuid4())
    await stack.publish(stack.settings.topics.order_commands, b"not a command", poison_key)
    topics = stack.settings.topics

    async with httpx.AsyncClient() as client:
        for name, url in stack.operations_urls.items():
            assert (await client.get(url + "/health")).json() == {"status": "alive"}, name
            ready = await client.get(url + "/ready")
            assert ready.status_code == 200, (name, ready.text)
            expected = {"database", "kafka"} | ({"consumers"} if name != "ingress" else set())
            assert {k for k, v in ready.json().items() if v is True} == expected, name

    async def measured(url: str, name: str, **labels: str) -> Samples | None:
        _, samples = await metrics(url)
        return samples if value(samples, name, **labels) > 0 else None

    ingress = await eventually(
        lambda: measured(stack.base_url, "orders_http_requests_total", method="POST", route="/orders", status="200")
    )
    assert value(ingress, "orders_http_request_duration_seconds_count", method="POST", route="/orders") > 0

    writer_url, dispatcher_url = stack.operations_urls["writer"], stack.operations_urls["dispatcher"]
    writer = await eventually(
        lambda: measured(
            writer_url, "orders_messages_consumed_total", topic=topics.order_commands, outcome="dead_lettered"
        )
    )
    assert value(writer, "orders_messages_consumed_total", topic=topics.order_create, outcome="handled") > 0
    assert value(writer, "orders_orders_stored_total", status="pending.created") > 0
    lag = [labels for n, labels, _ in writer if n == "orders_consumer_lag"]
    assert {(labels["group"], labels["topic"]) for labels in lag} >= {
        (f"{stack.prefix}orders-writer.create", topics.order_create),
        (f"{stack.prefix}orders-writer.checkouts", topics.checkout_events),
    }
    assert {labels["partition"] for labels in lag} == {str(p) for p in range(6)}
    assert value(writer, "faststream_received_messages_total", handler=topics.order_create) > 0

    dispatcher = await eventually(
        lambda: measured(dispatcher_url, "orders_webhook_dead_letters")  # the failing URL's schedule ran out
    )
    assert value(dispatcher, "orders_webhook_attempts_total", outcome="delivered") > 0
    assert value(dispatcher, "orders_webhook_attempts_total", outcome="failed") >= 4
    assert value(dispatcher, "orders_webhook_attempt_duration_seconds_count", outcome="delivered") > 0
    assert {labels["when"] for n, labels, _ in dispatcher if n == "orders_webhook_deliveries_waiting"} == {
        "due",
        "scheduled",
    }
    assert value(dispatcher, "orders_consumer_lag", topic=topics.order_events) >= 0

    routers = (router, endpoint_router, portal_router, report_router)
    templates = {getattr(route, "path", "") for each in routers for route in each.routes} | {
        "/health",
        "/ready",
        "/metrics",
        UNMATCHED_ROUTE,
    }
    for url in stack.operations_urls.values():
        text, samples = await metrics(url)
        for unbounded in (order_id, merchant.merchant_id, poison_key, str(receiver.port)):
            assert unbounded not in text, (url, unbounded)
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", text), url  # no id of any earlier test either
        assert {labels["route"] for _, labels, _ in samples if "route" in labels} <= templates


@pytest.mark.parametrize("own_stack", [{"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}], indirect=True)
async def test_consumers_are_alive_but_not_ready_without_kafka(own_stack: Stack) -> None:
    await own_stack.start("writer", "dispatcher", wait=False)
    async with httpx.AsyncClient() as client:
        for name in ("writer", "dispatcher"):
            url = own_stack.operations_urls[name]

            async def answer(url: str = url) -> httpx.Response | None:
                try:
                    return await client.get(url + "/ready")
                except httpx.TransportError:
                    return None

            ready = await eventually(answer, timeout=30)
            assert ready.status_code == 503, name
            assert (ready.json()["kafka"], ready.json()["consumers"]) == (False, False), name
            assert (await client.get(url + "/health")).status_code == 200, name


@pytest.mark.parametrize("own_stack", [{"ORDERS_LOG_FORMAT": "json"}], indirect=True)
async def test_json_logs_carry_ids_and_no_secret(own_stack: Stack, receiver: WebhookReceiver) -> None:
    await own_stack.start()
    merchant = await own_stack.merchant()
    token = "token-" + uuid.uuid4().hex
    failing = receiver.url("fail", uuid.uuid4().hex) + f"?token={token}"
    order_id = await new_order(own_stack, merchant, [receiver.url("ok", uuid.uuid4().hex), failing])

    async def logged(service: str, text: str) -> dict[str, Any] | None:
        lines = [json.loads(line) for line in own_stack.processes[service].log().splitlines() if line.strip()]
        assert all(isinstance(line, dict) and {"event", "level", "time", "service"} <= line.keys() for line in lines)
        return next((line for line in lines if text in line["event"]), None)

    stored = await eventually(lambda: logged("writer", f"order {order_id} stored"), timeout=30)
    assert stored["orderId"] == order_id
    assert uuid.UUID(stored["commandId"])
    assert len(stored["traceId"]) == 32
    dead = await eventually(lambda: logged("dispatcher", "is dead-lettered"), timeout=30)
    assert (dead["orderId"], dead["traceId"]) == (order_id, stored["traceId"])
    assert url_for_logs(failing) in dead["event"]

    everything = "\n".join(process.log() for process in own_stack.processes.values())
    for secret in (merchant.api_key, merchant.webhook_secret, token):
        assert secret not in everything
