"""Writes the JSON Schema of every message and document, and the AsyncAPI 3.0 document of
the topics, to ``schemas/json/`` (``make schemas``). A test checks the files are current."""

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.api import (
    CreatedWebhookEndpoint,
    CreateOrderRequest,
    CreateWebhookEndpointRequest,
    EndpointAttemptPage,
    OrderPage,
    OrderView,
    ProblemDetails,
    UpdateWebhookEndpointRequest,
    WebhookAttemptPage,
    WebhookEndpointList,
)
from schemas.checkout import CheckoutEvent
from schemas.commands import OrderCommand, OrderCommandsMessage, OrderCreateCommand
from schemas.endpoint_events import WebhookEndpointDisabled
from schemas.events import OrderEvent
from schemas.topics import (
    CHECKOUT_EVENTS,
    DLQ_REASON_HEADER,
    DLQ_SOURCE_TOPIC_HEADER,
    ORDER_COMMANDS,
    ORDER_CREATE,
    ORDER_EVENTS,
    TOPIC_PARTITIONS,
    WEBHOOK_COMMANDS,
    WEBHOOK_ENDPOINT_EVENTS,
    Topics,
)
from schemas.webhook_commands import WebhookCommand
from schemas.webhooks import OrderStatusWebhook, ReturnStatusWebhook

OUTPUT = Path(__file__).parent / "json"

SCHEMAS: dict[str, TypeAdapter[Any]] = {
    "CheckoutEvent": TypeAdapter(CheckoutEvent),
    "OrderCreateCommand": TypeAdapter(OrderCreateCommand),
    "OrderCommand": TypeAdapter(OrderCommand),
    "OrderCommandsMessage": TypeAdapter(OrderCommandsMessage),
    "OrderEvent": TypeAdapter(OrderEvent),
    "OrderStatusWebhook": TypeAdapter(OrderStatusWebhook),
    "ReturnStatusWebhook": TypeAdapter(ReturnStatusWebhook),
    "CreateOrderRequest": TypeAdapter(CreateOrderRequest),
    "Order": TypeAdapter(OrderView),
    "OrderPage": TypeAdapter(OrderPage),
    "WebhookAttemptPage": TypeAdapter(WebhookAttemptPage),
    "ProblemDetails": TypeAdapter(ProblemDetails),
    "WebhookCommand": TypeAdapter(WebhookCommand),
    "WebhookEndpointDisabled": TypeAdapter(WebhookEndpointDisabled),
    "CreateWebhookEndpointRequest": TypeAdapter(CreateWebhookEndpointRequest),
    "UpdateWebhookEndpointRequest": TypeAdapter(UpdateWebhookEndpointRequest),
    "CreatedWebhookEndpoint": TypeAdapter(CreatedWebhookEndpoint),
    "WebhookEndpointList": TypeAdapter(WebhookEndpointList),
    "EndpointAttemptPage": TypeAdapter(EndpointAttemptPage),
}
"""Public contracts only: storage documents (``schemas/storage``) are private to their owner."""

# topic -> (message schema, who produces, who consumes, what it is)
CHANNELS: dict[str, tuple[str, str, str, str]] = {
    CHECKOUT_EVENTS: ("CheckoutEvent", "checkout service", "order-writer, ingress", "Checkouts; key = checkout id."),
    ORDER_CREATE: ("OrderCreateCommand", "ingress", "order-writer", "Create an order from a checkout; key = order id."),
    ORDER_COMMANDS: (
        "OrderCommandsMessage",
        "ingress, any service (an OrderCommand); the order-writer to itself (order.republish_outbox)",
        "order-writer",
        "Lifecycle and return commands; key = order id.",
    ),
    ORDER_EVENTS: (
        "OrderEvent",
        "order-writer",
        "webhook-dispatcher, downstream services",
        "Every change of every order; key = order id.",
    ),
    WEBHOOK_COMMANDS: (
        "WebhookCommand",
        "ingress, the orders command line",
        "webhook-dispatcher",
        "Requests to the webhook-dispatcher (replay dead letters, recover an endpoint); key = command id "
        "or endpoint id.",
    ),
    WEBHOOK_ENDPOINT_EVENTS: (
        "WebhookEndpointDisabled",
        "webhook-dispatcher",
        "downstream services",
        "What happens to merchants' webhook endpoints (disabled after failing too long); key = endpoint id.",
    ),
}
PRODUCED_ONLY = {WEBHOOK_ENDPOINT_EVENTS}
"""Topics the service does not consume: no dead-letter topic of its own."""


def json_schemas() -> dict[str, dict[str, Any]]:
    return {name: adapter.json_schema(by_alias=True, mode="serialization") for name, adapter in SCHEMAS.items()}


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, (schema, producer, consumer, description) in CHANNELS.items():
        key = topic.replace(".", "_")
        messages[schema] = {
            "name": schema,
            "contentType": "application/json",
            "payload": {"$ref": f"{schema}.json"},
            "bindings": {"kafka": {"key": {"type": "string"}}},
        }
        channels[key] = {
            "address": topic,
            "description": f"{description} Produced by {producer}; consumed by {consumer}.",
            "messages": {schema: {"$ref": f"#/components/messages/{schema}"}},
            "bindings": {"kafka": {"partitions": TOPIC_PARTITIONS, "replicas": 1}},
        }
        if topic in PRODUCED_ONLY:
            operations[f"send_{key}"] = {"action": "send", "channel": {"$ref": f"#/channels/{key}"}}
            continue
        dead_letter = Topics.dead_letter(topic)
        channels[key + "_dlq"] = {
            "address": dead_letter,
            "description": (
                f"Messages of {topic} that can never be processed, as they were, with the reason in the "
                f"`{DLQ_REASON_HEADER}` header and the source in `{DLQ_SOURCE_TOPIC_HEADER}`."
            ),
        }
        operations[f"receive_{key}"] = {"action": "receive", "channel": {"$ref": f"#/channels/{key}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Orders service",
            "version": "1.0.0",
            "description": "Topics of the Orders service. A deployment may prefix every topic name.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def rendered() -> dict[str, str]:
    """File name -> content, as written."""
    files = {f"{name}.json": schema for name, schema in json_schemas().items()}
    files["asyncapi.json"] = asyncapi()
    return {name: json.dumps(content, indent=2, sort_keys=True) + "\n" for name, content in files.items()}


def main() -> None:
    OUTPUT.mkdir(exist_ok=True)
    for name, content in rendered().items():
        (OUTPUT / name).write_text(content)
    print(f"wrote {len(rendered())} files to {OUTPUT}")


if __name__ == "__main__":
    main()
