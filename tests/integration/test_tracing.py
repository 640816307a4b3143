"""One trace per request, across the three services: the request's `traceparent` (or a new
one) goes on `order.create`, on `order.events` and on every webhook request, and the spans
of all three services reach a real Jaeger through OTLP."""

import json
import secrets
import uuid
from typing import Any

import httpx
import pytest

from tests.support.infrastructure import NO_JAEGER, Infrastructure
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually

SERVICES = {"orders-ingress", "orders-writer", "orders-dispatcher"}


@pytest.fixture
async def traced_stack(own_stack: Stack, infra: Infrastructure) -> Stack:
    """A deployment that exports its spans to Jaeger at once (not every 5 s)."""
    if not (infra.jaeger_otlp_endpoint and infra.jaeger_query_url):
        pytest.fail(NO_JAEGER, pytrace=False)
    own_stack.env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": infra.jaeger_otlp_endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    await own_stack.start()
    return own_stack


def trace_id_of(traceparent: str) -> str:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert (version, len(trace_id), len(span_id), len(flags)) == ("00", 32, 16, 2)
    return trace_id


async def spans_by_service(query_url: str, trace_id: str) -> dict[str, set[str]] | None:
    """Service -> span names of one trace, once Jaeger has spans of all three services."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{query_url}/api/traces/{trace_id}")
    if response.status_code != 200:
        return None
    found: dict[str, set[str]] = {}
    for trace in response.json()["data"]:
        processes = {key: process["serviceName"] for key, process in trace["processes"].items()}
        for span in trace["spans"]:
            found.setdefault(processes[span["processID"]], set()).add(span["operationName"])
    return found if found.keys() >= SERVICES else None


async def batch_spans_linked_to(query_url: str, trace_id: str, batch_span: str) -> set[str] | None:
    """Span names of the writer's trace holding ``batch_span`` whose span links to
    ``trace_id`` (a batch's), once Jaeger has that span: a batch's trace starts with a span
    that carries the links and ends at once, and its "process" span comes later. (The
    tallies' batches of order events link to the request's trace too.)"""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{query_url}/api/traces", params={"service": "orders-writer", "limit": 100})
    if response.status_code != 200:
        return None
    for trace in response.json()["data"] or []:
        linked = any(
            reference["traceID"] == trace_id and reference["refType"] == "FOLLOWS_FROM"
            for span in trace["spans"]
            for reference in span.get("references", [])
        )
        names = {span["operationName"] for span in trace["spans"]}
        if linked and batch_span in names:
            return names
    return None


async def order_events_traceparents(stack: Stack, order_id: str) -> list[str]:
    records = await stack.topic_records(stack.settings.topics.order_events)
    return [
        dict(record.headers)["traceparent"].decode()
        for record in records
        if json.loads(record.value or b"{}").get("orderId") == order_id
    ]


async def test_a_request_trace_reaches_the_webhook_through_kafka_and_jaeger_holds_all_three_services(
    traced_stack: Stack, receiver: WebhookReceiver, infra: Infrastructure
) -> None:
    stack = traced_stack
    assert infra.jaeger_query_url is not None
    merchant = await stack.merchant()
    url = receiver.url("ok", uuid.uuid4().hex)
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    checkout = await stack.checkout(merchant.merchant_id)
    async with stack.client(merchant.api_key) as api:
        response = await api.post(
            "/orders",
            json={"checkoutId": checkout.checkout.id, "webhookUrls": [url]},
            headers={"traceparent": f"00-{trace_id}-{parent}-01"},
        )
    assert response.status_code == 200, response.text
    order_id = response.json()["id"]

    [webhook] = await receiver.wait_for(url)
    assert trace_id_of(webhook.headers["traceparent"]) == trace_id
    assert [trace_id_of(t) for t in await order_events_traceparents(stack, order_id)] == [trace_id]
    [command] = [r for r in await stack.topic_records(stack.settings.topics.order_create) if r.key == order_id.encode()]
    assert trace_id_of(dict(command.headers)["traceparent"].decode()) == trace_id

    spans = await eventually(lambda: spans_by_service(infra.jaeger_query_url or "", trace_id), timeout=30)
    assert "POST /orders" in spans["orders-ingress"]
    assert any(name.endswith("publish") for name in spans["orders-ingress"])
    assert any(name.endswith("publish") for name in spans["orders-writer"])  # the order's event
    # Creates are decided in batches: the batch's own span links to each request's trace
    # and holds the database calls the batch made for them all
    create_batch = f"{stack.settings.topics.order_create} process"
    batch = await eventually(
        lambda: batch_spans_linked_to(infra.jaeger_query_url or "", trace_id, create_batch), timeout=30
    )
    assert any(name.startswith(f"{stack.database}.") for name in batch)
    assert "webhook attempt" in spans["orders-dispatcher"]  # the POST's span, its traceparent on the webhook
    print(f"\ntrace {trace_id}: " + "; ".join(f"{s}: {sorted(n)}" for s, n in sorted(spans.items())))


async def test_a_request_without_traceparent_starts_a_trace_of_its_own(
    traced_stack: Stack, receiver: WebhookReceiver, infra: Infrastructure
) -> None:
    stack = traced_stack
    merchant = await stack.merchant()
    urls = [receiver.url("ok", uuid.uuid4().hex) for _ in range(2)]
    checkouts = [await stack.checkout(merchant.merchant_id) for _ in range(2)]
    orders = [
        await stack.create_order(merchant.api_key, c.checkout.id, webhookUrls=[u])
        for c, u in zip(checkouts, urls, strict=True)
    ]
    traces: list[Any] = []
    for order_id, url in zip(orders, urls, strict=True):
        [webhook] = await receiver.wait_for(url)
        traces.append(trace_id_of(webhook.headers["traceparent"]))
        assert [trace_id_of(t) for t in await order_events_traceparents(stack, order_id)] == [traces[-1]]
    assert traces[0] != traces[1]
    spans = await eventually(lambda: spans_by_service(infra.jaeger_query_url or "", traces[0]), timeout=30)
    assert "POST /orders" in spans["orders-ingress"]
