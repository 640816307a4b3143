"""POST /orders through the real stack: limits, checkout rules, idempotency."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from schemas.checkout import CheckoutStatus
from tests.support.checkouts import paid_checkouts_published
from tests.support.commands import create_command
from tests.support.stack import Stack, eventually


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == response.status_code
    return [e["field"] for e in body.get("errors", [])]


async def wait_until_parked(stack: Stack, order_id: str) -> None:
    """Until the writer has taken the create and waits for its checkout."""
    await eventually(lambda: stack.db.parked_creates.find_one({"_id": order_id}))


ABSENT = object()
BAD_BODIES: list[tuple[str, dict[str, Any], int, str]] = [
    ("missing checkoutId", {"checkoutId": ABSENT}, 422, "checkoutId"),
    ("null checkoutId", {"checkoutId": None}, 422, "checkoutId"),
    ("empty checkoutId", {"checkoutId": ""}, 422, "checkoutId"),
    ("long checkoutId", {"checkoutId": "c" * 256}, 422, "checkoutId"),
    ("checkoutId not a string", {"checkoutId": 5}, 422, "checkoutId"),
    ("empty idempotencyKey", {"idempotencyKey": ""}, 422, "idempotencyKey"),
    ("long idempotencyKey", {"idempotencyKey": "k" * 256}, 422, "idempotencyKey"),
    ("long paymentReference", {"paymentReference": "p" * 256}, 422, "paymentReference"),
    ("meta not an object", {"meta": [1, 2]}, 422, "meta"),
    ("meta over 16 KiB", {"meta": {"blob": "x" * (16 * 1024)}}, 422, "meta"),
    ("eleven webhook URLs", {"webhookUrls": [f"https://m.example.com/{i}" for i in range(11)]}, 422, "webhookUrls"),
    ("ftp webhook URL", {"webhookUrls": ["ftp://m.example.com/hook"]}, 422, "webhookUrls[0]"),
    ("relative webhook URL", {"webhookUrls": ["https://ok.example.com", "/hook"]}, 422, "webhookUrls[1]"),
    ("credentials in URL", {"webhookUrls": ["https://user:pw@m.example.com/"]}, 422, "webhookUrls[0]"),
    ("URL over 2048", {"webhookUrls": ["https://m.example.com/" + "a" * 2040]}, 422, "webhookUrls[0]"),
    ("unknown property", {"amount": 1}, 422, "amount"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
async def test_bad_bodies_are_refused_naming_the_field(
    stack: Stack, case: str, body: dict[str, Any], status: int, field: str
) -> None:
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    accepted = await stack.create_order(merchant.api_key, (await stack.checkout(merchant.merchant_id)).checkout.id)
    async with stack.client(merchant.api_key) as api:
        fields = {k: v for k, v in ({"checkoutId": checkout.checkout.id} | body).items() if v is not ABSENT}
        response = await api.post("/orders", json=fields)
    assert response.status_code == status, response.text
    assert field in problem_fields(response)
    # A command is on the topic before its request is answered: the accepted request's is,
    # the refused one's is not.
    assert [c["orderId"] for c in await stack.commands_of(merchant.merchant_id)] == [accepted]


async def test_body_limits_and_malformed_json(stack: Stack) -> None:
    merchant = await stack.merchant()
    async with stack.client(merchant.api_key) as api:
        too_large = await api.post("/orders", content=b'{"checkoutId": "' + b"x" * (65 * 1024) + b'"}')
        assert too_large.status_code == 413
        problem_fields(too_large)

        async def chunks() -> Any:
            for _ in range(80):
                yield b" " * 1024

        streamed = await api.post("/orders", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        malformed = await api.post("/orders", content=b'{"checkoutId": ', headers={"content-type": "application/json"})
        assert malformed.status_code == 400
        problem_fields(malformed)


async def test_authentication(stack: Stack) -> None:
    for key in (None, "ok_not-a-key"):
        async with stack.client(key) as api:
            for response in (await api.post("/orders", json={"checkoutId": "x"}), await api.get("/orders")):
                assert response.status_code == 401
                problem_fields(response)


async def test_ingress_refuses_what_its_view_already_knows(stack: Stack) -> None:
    merchant, other = await stack.merchant(), await stack.merchant()
    foreign = await stack.checkout(other.merchant_id)
    unpaid = await stack.checkout(merchant.merchant_id, status=CheckoutStatus.OPEN)
    expired = await stack.checkout(merchant.merchant_id, status=CheckoutStatus.EXPIRED)
    paid = await stack.checkout(merchant.merchant_id)
    first = await stack.create_order(merchant.api_key, paid.checkout.id)
    await stack.order(merchant.api_key, first)
    async with stack.client(merchant.api_key) as api:
        for checkout_id, status in ((foreign, 404), (unpaid, 422), (expired, 422), (paid, 409)):
            response = await api.post("/orders", json={"checkoutId": checkout_id.checkout.id})
            assert response.status_code == status, response.text
            assert problem_fields(response) == ["checkoutId"]
    assert [c["orderId"] for c in await stack.commands_of(merchant.merchant_id)] == [first]


async def test_unknown_checkout_waits_for_its_event_then_is_created(stack: Stack) -> None:
    merchant = await stack.merchant()
    checkout_id = str(uuid.uuid4())
    order_id = await stack.create_order(merchant.api_key, checkout_id)
    await wait_until_parked(stack, order_id)
    await stack.checkout(merchant.merchant_id, checkout_id=checkout_id, wait=False)
    order = await stack.order(merchant.api_key, order_id)
    assert order["status"] == "pending.created"
    assert order["amount"] == 200000


async def test_unknown_checkout_fails_after_the_grace_period(stack: Stack) -> None:
    merchant = await stack.merchant()
    order_id = await stack.create_order(merchant.api_key, "never-published-" + uuid.uuid4().hex)
    async with stack.client(merchant.api_key) as api:
        assert (await api.get(f"/orders/{order_id}")).status_code == 404  # still waiting for the checkout
    order = await stack.order(merchant.api_key, order_id)
    assert order["status"] == "failed.checkout_not_found"
    assert order["amount"] is None


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("open", "failed.checkout_not_paid"),
        ("expired", "failed.checkout_expired"),
        ("ordered", "failed.checkout_already_ordered"),
        ("foreign", "failed.checkout_not_found"),
    ],
)
async def test_writer_refusals_are_stored_and_announced(stack: Stack, setup: str, expected: str) -> None:
    """Create commands the ingress's view could not refuse (it was behind): the writer
    stores the order with a failed status and emits its event."""
    merchant = await stack.merchant()
    owner = (await stack.merchant()).merchant_id if setup == "foreign" else merchant.merchant_id
    status = {"open": CheckoutStatus.OPEN, "expired": CheckoutStatus.EXPIRED}.get(setup, CheckoutStatus.PAID)
    checkout = await stack.checkout(owner, status=status)
    if setup == "ordered":
        await stack.order(merchant.api_key, await stack.create_order(merchant.api_key, checkout.checkout.id))
    command = create_command(merchant.merchant_id, checkout.checkout.id)
    await stack.publish(stack.settings.topics.order_create, command, command.order_id)
    order = await stack.order(merchant.api_key, command.order_id)
    assert order["status"] == expected
    assert order["version"] == 1
    event = await eventually(lambda: _event_for(stack, command.order_id))
    assert event["order"]["status"] == expected


async def _event_for(stack: Stack, order_id: str) -> dict[str, Any] | None:
    """The order's first event as the writer published it (read back from the dispatcher's
    deliveries would need a URL; the outbox is empty once published, so read the topic)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        stack.settings.topics.order_events,
        bootstrap_servers=stack.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=1000, max_records=100_000)
        import json

        for records in batches.values():
            for record in records:
                if record.key == order_id.encode():
                    event: dict[str, Any] = json.loads(record.value)
                    return event
        return None
    finally:
        await consumer.stop()


async def test_fifty_concurrent_identical_requests_make_one_order(stack: Stack) -> None:
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    body = {"checkoutId": checkout.checkout.id, "idempotencyKey": "same-key", "meta": {"n": 1}}
    clients = [stack.client(merchant.api_key) for _ in range(5)]
    try:
        responses = await asyncio.gather(*(clients[i % 5].post("/orders", json=body) for i in range(50)))
    finally:
        for client in clients:
            await client.aclose()
    assert [r.status_code for r in responses] == [200] * 50
    assert len({r.text for r in responses}) == 1
    order_id = responses[0].json()["id"]
    assert (await stack.order(merchant.api_key, order_id))["version"] == 1
    commands = await stack.commands_of(merchant.merchant_id)
    assert (len(commands), {c["orderId"] for c in commands}) == (50, {order_id})  # 50 commands, one order

    # The checkout has since been turned into this order, then expired: a retry still gets
    # its answer.
    await stack.checkout(
        merchant.merchant_id, checkout_id=checkout.checkout.id, status=CheckoutStatus.EXPIRED, version=2
    )
    async with stack.client(merchant.api_key) as api:
        again = await api.post("/orders", json=body)
        assert again.status_code == 200
        assert again.json() == {"id": order_id}
        other_body = await api.post("/orders", json=body | {"meta": {"n": 2}})
        assert other_body.status_code == 409
        problem_fields(other_body)


async def test_a_request_whose_twin_already_claimed_the_checkout_gets_the_twins_answer(stack: Stack) -> None:
    """The view refuses the checkout (the twin's order has it), and the key, which the twin
    reserved before its command was published, tells that this is a retry of the twin, not
    a second order."""
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id)
    twin = await stack.create_order(merchant.api_key, checkout.checkout.id, idempotencyKey="twin")
    await stack.order(merchant.api_key, twin)
    async with stack.client(merchant.api_key) as api:
        again = await api.post("/orders", json={"checkoutId": checkout.checkout.id, "idempotencyKey": "twin"})
        other = await api.post("/orders", json={"checkoutId": checkout.checkout.id, "idempotencyKey": "another"})
    assert (again.status_code, again.json()) == (200, {"id": twin})
    assert other.status_code == 409


async def test_keys_are_scoped_per_merchant_and_orders_without_key_are_new(stack: Stack) -> None:
    first, second = await stack.merchant(), await stack.merchant()
    ids = []
    for merchant in (first, second):
        checkout = await stack.checkout(merchant.merchant_id)
        ids.append(await stack.create_order(merchant.api_key, checkout.checkout.id, idempotencyKey="shared-key"))
    assert ids[0] != ids[1]

    # Without a key, a repeated request is a new order: it never gets the first one's id. It
    # is refused at once (409) if the writer has claimed the checkout. Else both are accepted
    # and the writer decides: commands are keyed by order id, so they may sit on different
    # partitions and either may be taken first. One order is made; the other is failed.
    checkout = await stack.checkout(first.merchant_id)
    first_id = await stack.create_order(first.api_key, checkout.checkout.id)
    async with stack.client(first.api_key) as api:
        repeated = await api.post("/orders", json={"checkoutId": checkout.checkout.id})
    if repeated.status_code == 200:
        second_id = repeated.json()["id"]
        assert second_id != first_id
        statuses = sorted([(await stack.order(first.api_key, i))["status"] for i in (first_id, second_id)])
        assert statuses == ["failed.checkout_already_ordered", "pending.created"]
    else:
        assert repeated.status_code == 409, repeated.text
        assert (await stack.order(first.api_key, first_id))["status"] == "pending.created"


@pytest.mark.parametrize("own_stack", [{"ORDERS_ALLOW_PRIVATE_WEBHOOKS": "false"}], indirect=True)
async def test_private_webhook_addresses_are_refused_unless_allowed(own_stack: Stack) -> None:
    await own_stack.start("ingress")
    merchant = await own_stack.merchant()
    async with own_stack.client(merchant.api_key) as api:
        for url in (
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.8/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/",
        ):
            response = await api.post(
                "/orders", json={"checkoutId": "c", "webhookUrls": ["https://ok.example.com", url]}
            )
            assert response.status_code == 422
            assert problem_fields(response) == ["webhookUrls[1]"]


async def test_an_open_checkout_paid_within_the_grace_period_becomes_an_order(stack: Stack) -> None:
    """The writer sees the checkout still open (the ingress's view was behind): it waits
    for the payment rather than failing at once."""
    merchant = await stack.merchant()
    checkout = await stack.checkout(merchant.merchant_id, status=CheckoutStatus.OPEN)
    command = create_command(merchant.merchant_id, checkout.checkout.id)
    await stack.publish(stack.settings.topics.order_create, command, command.order_id)
    await wait_until_parked(stack, command.order_id)
    await stack.checkout(merchant.merchant_id, checkout_id=checkout.checkout.id, status=CheckoutStatus.PAID, version=2)
    assert (await stack.order(merchant.api_key, command.order_id))["status"] == "pending.created"


async def test_the_ingress_sends_a_paid_checkout_it_read_on_checkout_events_without_the_view(own_stack: Stack) -> None:
    """No writer runs, so the view never has the checkout: the command can carry it only
    because the ingress read it from ``checkout.events`` itself (``RecentCheckouts``)."""
    await own_stack.start("ingress")
    merchant = await own_stack.merchant()
    [paid] = await paid_checkouts_published(own_stack, merchant.merchant_id, 1, in_view=False, timeout=20)

    order_id = await own_stack.create_order(merchant.api_key, paid.id)
    [command] = [c for c in await own_stack.commands_of(merchant.merchant_id) if c["orderId"] == order_id]
    assert command["paidCheckout"] == paid.model_dump(mode="json", by_alias=True)
    assert await own_stack.db.checkouts.count_documents({}) == 0  # the view has nothing
