"""Two writers and two dispatchers in their consumer groups; one of each is killed with
SIGKILL while orders are created steadily. Every order is stored once, every change has one
event, every webhook arrives at its URL, and the survivors take over the partitions."""

import asyncio
import json
import time
import uuid
from collections import Counter
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from tests.support.processes import ServiceProcess
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually

ORDERS = 120
KILL_AFTER = 40
PACE_SECONDS = 0.1


async def group_members(stack: Stack, group: str) -> dict[str, set[int]]:
    """Client id -> the partitions its consumers hold now, in one consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    [(_, _, state, _, _, members)] = response.groups
    held: dict[str, set[int]] = {}
    for _, client_id, _, _, assignment in members:
        partitions = ConsumerProtocolMemberAssignment.decode(assignment).partitions() if assignment else []
        held.setdefault(client_id, set()).update(tp.partition for tp in partitions)
    return held if state == "Stable" else {}


def held_by(members: dict[str, set[int]], process: ServiceProcess) -> set[int]:
    return {p for client, partitions in members.items() if client.endswith(f"-{process.pid}") for p in partitions}


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(url + "/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def test_two_replicas_survive_losing_one_of_each(own_stack: Stack, receiver: WebhookReceiver) -> None:
    stack = own_stack
    await stack.start()
    writer, dispatcher = stack.processes["writer"], stack.processes["dispatcher"]
    writer_2, dispatcher_2 = stack.replica("writer"), stack.replica("dispatcher")
    writer_2.start()
    dispatcher_2.start()
    for process in (writer, dispatcher, writer_2, dispatcher_2):
        url = stack.operations_url(process) if process in stack.replicas else stack.operations_urls[process.name]
        await eventually(lambda url=url: ready(url), timeout=60)  # type: ignore[misc]
    prefix = stack.prefix
    groups = {
        "writer": [
            f"{prefix}orders-writer.create",
            f"{prefix}orders-writer.checkouts",
            f"{prefix}orders-writer.commands",
        ],
        "dispatcher": [f"{prefix}orders-webhook-dispatcher"],
    }

    async def shared() -> bool:
        """Both processes of each role hold partitions of its main group."""
        for role, first, second in (("writer", writer, writer_2), ("dispatcher", dispatcher, dispatcher_2)):
            members = await group_members(stack, groups[role][0])
            if not (held_by(members, first) and held_by(members, second)):
                return False
        return True

    await eventually(shared, timeout=60)

    merchant = await stack.merchant()
    url, endpoint_url = receiver.url("ok", uuid.uuid4().hex), receiver.url("ok", uuid.uuid4().hex)
    async with stack.client(merchant.api_key) as api:  # every event also goes to the merchant's endpoint
        assert (await api.post("/webhook-endpoints", json={"url": endpoint_url})).status_code == 201
    checkouts = [await stack.checkout(merchant.merchant_id, wait=False) for _ in range(ORDERS)]

    async def all_checkouts_taken() -> bool:
        ids = [c.checkout.id for c in checkouts]
        return await stack.db.checkouts.count_documents({"_id": {"$in": ids}}) == ORDERS

    await eventually(all_checkouts_taken, timeout=60)

    answers: list[int] = []
    order_ids: list[str] = []
    killed_at = 0.0
    async with stack.client(merchant.api_key) as api:
        for index, checkout in enumerate(checkouts):
            if index == KILL_AFTER:
                writer.kill()
                dispatcher.kill()
                killed_at = time.monotonic()
            response = await api.post("/orders", json={"checkoutId": checkout.checkout.id, "webhookUrls": [url]})
            answers.append(response.status_code)
            if response.status_code == 200:
                order_ids.append(response.json()["id"])
            await asyncio.sleep(PACE_SECONDS)
    assert answers == [200] * ORDERS

    async def taken_over() -> float | None:
        for role, survivor in (("writer", writer_2), ("dispatcher", dispatcher_2)):
            for group in groups[role]:
                members = await group_members(stack, group)
                if held_by(members, survivor) != set(range(6)) or len(members) != 1:
                    return None
        return time.monotonic() - killed_at

    takeover_seconds = await eventually(taken_over, timeout=60, interval=0.5)

    async def all_delivered() -> set[str] | None:
        ids = {r.headers["webhook-id"] for r in receiver.at(url)}
        return ids if len(ids) >= ORDERS else None

    webhook_ids = await eventually(all_delivered, timeout=90, interval=0.5)
    stored = [d["_id"] async for d in stack.db.orders.find({"merchantId": merchant.merchant_id}, {"_id": 1})]
    assert sorted(stored) == sorted(order_ids)
    assert len(set(order_ids)) == ORDERS

    events: list[dict[str, Any]] = [
        json.loads(r.value or b"{}") for r in await stack.topic_records(stack.settings.topics.order_events)
    ]
    mine = [e for e in events if e["orderId"] in set(order_ids)]
    event_ids_per_change: dict[tuple[str, int], set[str]] = {}
    for event in mine:
        event_ids_per_change.setdefault((event["orderId"], event["version"]), set()).add(event["id"])
    assert {order for order, _ in event_ids_per_change} == set(order_ids)
    assert all(len(ids) == 1 for ids in event_ids_per_change.values())
    event_ids = {next(iter(ids)) for ids in event_ids_per_change.values()}
    assert webhook_ids == event_ids

    async def all_at_the_endpoint() -> set[str] | None:
        ids = {r.headers["webhook-id"] for r in receiver.at(endpoint_url)}
        return ids if len(ids) >= ORDERS else None

    assert await eventually(all_at_the_endpoint, timeout=90, interval=0.5) == event_ids
    for survivor in (writer_2, dispatcher_2):
        assert await ready(stack.operations_url(survivor))

    republished = sum(n - 1 for n in Counter(e["id"] for e in mine).values())
    redelivered = len(receiver.at(url)) - len(webhook_ids)
    print(
        f"\n{ORDERS} orders at {1 / PACE_SECONDS:.0f}/s, one writer and one dispatcher SIGKILLed after {KILL_AFTER}: "
        f"all answered 200 and stored once; {len(event_ids)} changes, one event id each "
        f"({republished} republished messages); {len(webhook_ids)} webhooks by webhook-id "
        f"({redelivered} redelivered); survivors held every partition {takeover_seconds:.1f}s after the kill"
    )
