"""Accepted work is never lost, and nothing stalls on bad input: poison messages, a killed
writer, Kafka unreachable, the database going away and coming back, start-up order."""

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.base import utc_now
from schemas.checkout import CheckoutEvent, CheckoutStatus
from schemas.commands import ConfirmOrder
from schemas.storage.webhooks import WEBHOOK_DELIVERIES
from services.domain.events import event_for
from services.domain.lifecycle import apply_command
from services.domain.outcomes import Refusal
from services.order_writer.claims import CommandClaims
from services.order_writer.store import OrderStore
from services.shared.mongo import close_client, open_database
from services.webhook_dispatcher.store import DeliveryStore, Outcomes
from tests.factories import POLICY
from tests.support.commands import command_fields, create_command, creation_event
from tests.support.demo import demo_checkout
from tests.support.infrastructure import Infrastructure
from tests.support.proxy import TcpProxy
from tests.support.receiver import WebhookReceiver
from tests.support.stack import Stack, eventually, free_port


async def read_topic(stack: Stack, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
        return [record for records in batches.values() for record in records]
    finally:
        await consumer.stop()


async def test_poison_messages_are_dead_lettered_and_consumption_goes_on(stack: Stack) -> None:
    topics = stack.settings.topics
    poison = {
        topics.order_create: b"not json at all",
        topics.order_commands: json.dumps({"type": "order.teleport", "orderId": "x"}).encode(),
        topics.checkout_events: json.dumps({"type": "checkout.paid", "checkout": {"id": "c"}}).encode(),
        topics.order_events: b'{"id": "e", "type": "order.status.updated"',
    }
    marker = uuid.uuid4().hex
    for topic, value in poison.items():
        await stack.publish(topic, value, key=marker)

    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    order_id = await stack.create_order(merchant.api_key, checkout.checkout.id)
    assert (await stack.order(merchant.api_key, order_id))["status"] == "pending.created"

    # order.events has two consuming groups (the dispatcher's and the writer's tallies'):
    # each that gives up on a message dead-letters it.
    groups = {topic: 2 if topic == topics.order_events else 1 for topic in poison}
    for topic, value in poison.items():

        async def dead_lettered(topic: str = topic) -> list[Any] | None:
            records = [r for r in await read_topic(stack, topics.dead_letter(topic)) if r.key == marker.encode()]
            return records if len(records) >= groups[topic] else None

        records = await eventually(dead_lettered)
        assert len(records) == groups[topic]
        for record in records:
            headers = {k: v.decode() for k, v in record.headers}
            assert record.value == value
            assert headers["x-dlq-source-topic"] == topic
            assert headers["x-dlq-reason"].startswith("invalid message")


async def test_a_killed_writer_loses_no_accepted_order(own_stack: Stack, receiver: WebhookReceiver) -> None:
    """Every order answered 200 is stored and announced, though the writer is killed with
    SIGKILL while it works through them: commands are committed only once handled (their
    events published), and a batch handed over again publishes the events of the orders
    its commands made."""
    await own_stack.start()
    merchant = await own_stack.merchant()
    hook = receiver.url("ok", uuid.uuid4().hex)
    checkouts = [demo_checkout(merchant.merchant_id, str(uuid.uuid4()), CheckoutStatus.PAID, 1) for _ in range(40)]
    await own_stack.publish_many(own_stack.settings.topics.checkout_events, [(c, c.checkout.id) for c in checkouts])

    async def all_in_view() -> bool:
        return await own_stack.db.checkouts.count_documents({"checkout.merchantId": merchant.merchant_id}) == 40

    await eventually(all_in_view)

    killed = asyncio.Event()

    async def create_one_by_one() -> list[str]:
        """Requests keep coming while the writer is killed and started again: the second
        half only once it is killed, so that it has orders to store after the kill however
        fast it stored the first (a writer that had stored all 40 by then failed this test's
        premise once)."""

        async def create(some: list[CheckoutEvent]) -> list[str]:
            return [await own_stack.create_order(merchant.api_key, c.checkout.id, webhookUrls=[hook]) for c in some]

        first = await create(checkouts[:20])
        await killed.wait()
        return first + await create(checkouts[20:])

    creating = asyncio.create_task(create_one_by_one())
    await eventually(lambda: own_stack.db.orders.count_documents({}), interval=0.01)
    own_stack.processes["writer"].kill()
    killed.set()
    stored_at_kill = await own_stack.db.orders.count_documents({})
    assert stored_at_kill < len(checkouts), "the kill must land while the writer still has orders to store"
    own_stack.processes["writer"].start()
    order_ids = await creating

    for order_id in order_ids:
        assert (await own_stack.order(merchant.api_key, order_id))["status"] == "pending.created"

    async def all_announced() -> bool:
        return {r.json["order"]["id"] for r in receiver.at(hook)} == set(order_ids)

    await eventually(all_announced, timeout=30)
    # None is left for the stale-outbox sweep: what a batch stores, it publishes, or the
    # batch comes again (events published with their batch stay in the outbox, unswept)
    assert await own_stack.db.orders.count_documents({"outboxSince": {"$ne": None}}) == 0
    print(f"\nwriter killed with {stored_at_kill} of 40 orders stored; all 40 stored and announced afterwards")


@pytest.mark.parametrize("own_stack", [{"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}], indirect=True)
async def test_while_kafka_is_unreachable_creation_answers_503(own_stack: Stack) -> None:
    await own_stack.start("ingress", wait=False)
    merchant = await own_stack.merchant()
    checkout = await own_stack.checkout(merchant.merchant_id, wait=False)
    async with httpx.AsyncClient(
        base_url=own_stack.base_url, headers={"Authorization": f"Bearer {merchant.api_key}"}
    ) as api:

        async def answering() -> httpx.Response | None:
            try:
                return await api.get("/ready")
            except httpx.TransportError:
                return None

        ready = await eventually(answering, timeout=30)
        assert ready.status_code == 503
        assert ready.json()["kafka"] is False
        assert (await api.get("/health")).status_code == 200  # alive, only not ready
        response = await api.post("/orders", json={"checkoutId": checkout.checkout.id, "idempotencyKey": "k"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.headers["content-type"] == "application/problem+json"
        assert (await api.get("/orders")).status_code == 200  # reads still work
    assert await own_stack.db.orders.count_documents({}) == 0
    assert "Kafka is not reachable yet" in own_stack.processes["ingress"].log_tail(200)


async def _logged(stack: Stack, service: str, text: str) -> bool:
    return text in stack.processes[service].log_tail(400)


@pytest.fixture
async def proxied_stack(infra: Infrastructure, log_dir: Path) -> AsyncIterator[tuple[Stack, TcpProxy]]:
    mongo = urlsplit(infra.mongodb_url)
    proxy = TcpProxy(mongo.hostname or "127.0.0.1", mongo.port or 27017)
    await proxy.start()
    directory = log_dir / f"proxied-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    deployment = Stack(infra, directory, mongodb_port=proxy.port)
    yield deployment, proxy
    await deployment.close()
    await proxy.cut()


async def test_services_wait_for_the_database_and_lose_nothing_while_it_is_away(
    proxied_stack: tuple[Stack, TcpProxy],
) -> None:
    """The services start while the database is unreachable (they wait and say so), work
    with it, lose it again (POST answers 503; commands already in Kafka wait), and take
    up every piece of accepted work once it is back."""
    stack, proxy = proxied_stack
    await proxy.cut()
    await stack.start(wait=False)
    for name in ("writer", "dispatcher", "ingress"):
        await eventually(functools.partial(_logged, stack, name, "MongoDB is not reachable yet"), timeout=30)
    assert all(process.running for process in stack.processes.values())
    await proxy.restore()
    await stack.wait_for_ingress()

    merchant = await stack.merchant()
    first = await stack.checkout(merchant.merchant_id)
    first_id = await stack.create_order(merchant.api_key, first.checkout.id)
    await stack.order(merchant.api_key, first_id)

    await proxy.cut()
    second = await stack.checkout(merchant.merchant_id, wait=False)
    async with stack.client(merchant.api_key) as api:
        # Its key must be reserved in the database. (Without a key, a checkout the ingress
        # has read on checkout.events, as it may have this one, needs no database: it would
        # be accepted into Kafka while the API key is still cached.)
        refused = await api.post("/orders", json={"checkoutId": second.checkout.id, "idempotencyKey": "k"})
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    confirm = ConfirmOrder(**command_fields(merchant.merchant_id, first_id))
    await stack.publish(stack.settings.topics.order_commands, confirm, first_id)
    create = create_command(merchant.merchant_id, second.checkout.id)
    await stack.publish(stack.settings.topics.order_create, create, create.order_id)
    # The writer has taken them and waits for the database, keeping them uncommitted.
    await eventually(functools.partial(_logged, stack, "writer", "handling waits for its dependencies"), timeout=30)
    await proxy.restore()

    assert (await stack.order(merchant.api_key, first_id, lambda o: o["version"] == 2))["status"] == "pending.confirmed"
    assert (await stack.order(merchant.api_key, create.order_id))["status"] == "pending.created"


async def test_a_command_answered_503_never_takes_effect(stack: Stack) -> None:
    """When Kafka does not confirm a publish in time it may still have the message. The
    ingress then abandons the command before answering 503; the writer, finding it
    abandoned, ignores it. (The ingress's side is shown here by calling the same log.)"""
    log = CommandClaims(stack.db)
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    create = create_command(merchant.merchant_id, checkout.checkout.id)
    assert await log.abandon(create.command_id, create.order_id, create.type, utc_now())
    await stack.publish(stack.settings.topics.order_create, create, create.order_id)

    order_id = await stack.create_order(merchant.api_key, (await stack.checkout(merchant.merchant_id)).checkout.id)
    await stack.order(merchant.api_key, order_id)
    confirm = ConfirmOrder(**command_fields(merchant.merchant_id, order_id))
    assert await log.abandon(confirm.command_id, confirm.order_id, confirm.type, utc_now())
    await stack.publish(stack.settings.topics.order_commands, confirm, order_id)
    # A later command on the same partitions shows both abandoned ones were consumed.
    confirm_again = ConfirmOrder(**command_fields(merchant.merchant_id, order_id))
    await stack.publish(stack.settings.topics.order_commands, confirm_again, order_id)
    assert (await stack.order(merchant.api_key, order_id, lambda o: o["version"] == 2))["status"] == "pending.confirmed"

    # A create published with the abandoned one's key sits on its partition, behind it: once
    # that one is stored, the abandoned create was certainly consumed.
    marker = create_command(merchant.merchant_id, (await stack.checkout(merchant.merchant_id)).checkout.id)
    await stack.publish(stack.settings.topics.order_create, marker, create.order_id)
    await stack.order(merchant.api_key, marker.order_id)
    assert await stack.db.orders.count_documents({"_id": create.order_id}) == 0
    assert (await stack.order(merchant.api_key, order_id))["version"] == 2
    for command_id in (create.command_id, confirm.command_id):
        logged = await stack.db.command_log.find_one({"_id": command_id})
        assert logged is not None
        assert logged["outcome"] == "abandoned"


async def test_abandoning_a_command_the_writer_took_reports_that_it_arrived(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await stack.create_order(merchant.api_key, (await stack.checkout(merchant.merchant_id)).checkout.id)
    await stack.order(merchant.api_key, order_id)
    confirm = ConfirmOrder(**command_fields(merchant.merchant_id, order_id))
    await stack.publish(stack.settings.topics.order_commands, confirm, order_id)
    await stack.order(merchant.api_key, order_id, lambda o: o["status"] == "pending.confirmed")
    assert not await CommandClaims(stack.db).abandon(confirm.command_id, order_id, confirm.type, utc_now())


async def test_bursts_of_updates_do_not_wedge_the_database(stack: Stack) -> None:
    """FerretDB v1 deadlocks for good once its connection pool is full of updates that each
    wait for another connection. A service's client bounds its concurrent operations
    (ORDERS_MONGODB_POOL_SIZE), and the dispatcher writes reschedules a few per write, so
    bursts like a dispatcher rescheduling hundreds of deliveries at once only queue."""
    client, db = open_database(stack.settings)
    scratch = client.get_database(f"{db.name}_burst")
    try:
        burst = scratch["update_burst"]
        await burst.insert_many([{"_id": i, "n": 0} for i in range(400)])
        await asyncio.wait_for(
            asyncio.gather(*(burst.update_one({"_id": i}, {"$inc": {"n": 1}}) for i in range(400))), timeout=60
        )
        assert await burst.count_documents({"n": 1}) == 400

        queue = scratch[WEBHOOK_DELIVERIES]
        await queue.insert_many([{"_id": f"d{i}", "batchId": f"b{i % 3}", "attempts": 0} for i in range(400)])
        later = utc_now().replace(microsecond=0) + timedelta(minutes=5)
        outcomes = Outcomes(
            rescheduled=[(f"d{i}", {"attempts": 1}) for i in range(300)],
            postponed=[(f"b{i % 3}", f"d{i}", later) for i in range(300, 350)],
            delivered=[(f"b{i % 3}", f"d{i}") for i in range(350, 400)],
        )
        await asyncio.wait_for(DeliveryStore(scratch).record_outcomes(outcomes), timeout=60)
        assert await queue.count_documents({"attempts": 1}) == 300
        assert await queue.count_documents({"dueAt": later}) == 50
        assert await queue.count_documents({}) == 350
    finally:
        await client.drop_database(scratch.name)
        await close_client(client)


async def test_a_webhook_whose_write_waits_for_the_database_is_sent_once(
    proxied_stack: tuple[Stack, TcpProxy], receiver: WebhookReceiver
) -> None:
    """Attempt first, then write: the database goes away while an attempt is on the wire.
    The attempt's write waits for it (the dispatcher says so) instead of failing the batch,
    which would have it handled, and its webhook sent, again. A later event on the same
    partition shows the batch done, and its webhook arrived once; its attempt reaches the
    history, once. (The write is the batch's own, or, when the batch stopped waiting for an
    attempt this slow and queued it, the one of the queued delivery's outcome, which may
    come after the later event.)"""
    stack, proxy = proxied_stack
    await stack.start()
    merchant = await stack.merchant()
    warm = receiver.url("ok", uuid.uuid4().hex)
    checkout = await stack.checkout(merchant.merchant_id)
    await stack.create_order(merchant.api_key, checkout.checkout.id, webhookUrls=[warm])
    await receiver.wait_for(warm)  # the dispatcher has the merchant's signing secrets by now
    dispatcher = stack.processes["dispatcher"]

    def waiting() -> int:
        log = dispatcher.log()
        return log.count("MongoDB is not reachable yet") + log.count("waits for its dependencies")

    async def waited_more(than: int) -> bool:
        return waiting() > than

    slow = receiver.url("slow", uuid.uuid4().hex)  # answers after 1 s
    event = creation_event(merchant.merchant_id, [slow])
    before = waiting()
    await stack.publish(stack.settings.topics.order_events, event, event.order_id)
    await receiver.wait_for(slow)
    await proxy.cut()
    await eventually(functools.partial(waited_more, before), timeout=30)
    await proxy.restore()

    witness = receiver.url("ok", uuid.uuid4().hex)
    later = creation_event(merchant.merchant_id, [witness])
    await stack.publish(stack.settings.topics.order_events, later, event.order_id)  # the first one's partition
    await receiver.wait_for(witness, timeout=60)
    assert len(receiver.at(slow)) == 1

    async def history() -> list[tuple[str, int, str]]:
        found = stack.db.webhook_attempts.find({"orderId": event.order_id})
        return [(a["url"], a["attempt"], a["outcome"]) async for a in found]

    await eventually(history, timeout=60)
    assert await history() == [(slow, 1, "delivered")]
    assert len(receiver.at(slow)) == 1


async def test_a_change_whose_events_never_went_out_is_published_in_its_orders_turn(stack: Stack) -> None:
    """A change stored, its events never published (the process died in between, and its
    command is gone): the sweep finds the stale outbox and asks, on order.commands under the
    order's key, that it be published there, where no other update of the order runs
    beside it; FerretDB v1 would let a clear beside a change undo the change."""
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    order_id = await stack.create_order(merchant.api_key, checkout.checkout.id)
    await stack.order(merchant.api_key, order_id)
    store = OrderStore(stack.db)
    state = await store.get_with_state(order_id)
    assert state is not None
    now = utc_now()
    outcome = apply_command(state[0], ConfirmOrder(**command_fields(merchant.merchant_id, order_id)), now, POLICY)
    assert not isinstance(outcome, Refusal)
    event = event_for(outcome.record, outcome.event_type, None, now)
    assert await store.replace(1, outcome.record, event, "lost-command", now - timedelta(seconds=10))

    async def published() -> bool:
        records = await stack.topic_records(stack.settings.topics.order_events)
        return any(json.loads(r.value or b"{}")["id"] == event.id for r in records if r.key == order_id.encode())

    await eventually(published, timeout=30)
    requests = [
        json.loads(r.value or b"{}")
        for r in await stack.topic_records(stack.settings.topics.order_commands)
        if r.key == order_id.encode()
    ]
    assert {"type": "order.republish_outbox", "orderId": order_id} in requests
    await eventually(lambda: _outbox_cleared(stack, order_id))
    assert (await stack.order(merchant.api_key, order_id))["status"] == "pending.confirmed"


async def _outbox_cleared(stack: Stack, order_id: str) -> bool:
    document = await stack.db.orders.find_one({"_id": order_id})
    return document is not None and document["outbox"] == [] and "outboxPending" not in document
