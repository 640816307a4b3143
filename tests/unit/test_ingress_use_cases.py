"""The ingress's request handling (gate, validation, read-view checks, idempotency,
publishing) through its real ASGI app, over in-memory fakes of what it reads and publishes.

Every refused request is checked to have changed nothing: no idempotency key reserved,
no command published."""

import asyncio
import json
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.types import Message

from schemas.base import utc_now
from schemas.checkout import CheckoutStatus
from schemas.commands import OrderCreateCommand
from schemas.order import OrderRecord, OrderStatus
from services.ingress.app import Ingress, create_app
from services.ingress.recent_checkouts import RecentCheckouts
from services.shared.merchant_store import Principal
from services.shared.settings import Settings
from tests.factories import NOW, checkout, order
from tests.fakes import (
    FakeCheckouts,
    FakeCommandLog,
    FakeDeliveryReads,
    FakeEndpointHealthReads,
    FakeEndpointRegistry,
    FakeIdempotency,
    FakeKeys,
    FakeOrders,
    FakePublisher,
)
from tests.support.asgi import orders_post_scope
from tests.support.hostile import UNSTORABLE_FIELDS, UNSTORABLE_JSON

KEY, ADMIN_KEY = "key-m1", "key-admin"
ORDER_CREATE = "order.create"


class Api:
    def __init__(self, *, publisher: FakePublisher | None = None, **settings: str) -> None:
        self.settings = Settings.model_validate({"ORDERS_REQUEST_BODY_TIMEOUT_SECONDS": "0.2"} | settings)
        self.orders = FakeOrders()
        self.checkouts = FakeCheckouts(checkout(CheckoutStatus.PAID))
        self.recent_checkouts = RecentCheckouts(capacity=100)
        self.idempotency = FakeIdempotency()
        self.log = FakeCommandLog()
        self.publisher = publisher or FakePublisher()
        self.endpoints = FakeEndpointRegistry()
        self.endpoint_health = FakeEndpointHealthReads()
        self.app = create_app(self.settings)
        self.app.state.ingress = Ingress(
            self.settings,
            self.orders,
            self.checkouts,
            self.recent_checkouts,
            FakeKeys({KEY: Principal("m1", admin=False), ADMIN_KEY: Principal("ops", admin=True)}),
            self.idempotency,
            FakeDeliveryReads(),
            self.log,
            self.publisher,
            self.endpoints,
            self.endpoint_health,
            {"database": self._database_answers, "kafka": self._kafka_answers},
        )
        self.database_up = self.kafka_up = True

    async def _database_answers(self) -> bool:
        return self.database_up

    async def _kafka_answers(self) -> bool:
        return self.kafka_up

    def client(self, key: str | None = KEY) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(transport=httpx.ASGITransport(self.app), base_url="http://ingress", headers=headers)

    async def post(self, path: str, body: Any, key: str | None = KEY) -> httpx.Response:
        async with self.client(key) as client:
            return await client.post(path, json=body)

    def assert_nothing_changed(self) -> None:
        assert self.idempotency.reserved == {}
        assert self.publisher.sent == []


@pytest.fixture
def api() -> Api:
    return Api()


async def test_a_valid_create_is_published_keyed_by_its_order_id(api: Api) -> None:
    response = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1", "meta": {"a": [1, {"b": []}]}})
    assert response.status_code == 200, response.text
    [(topic, key, command)] = api.publisher.sent
    assert (topic, key) == (ORDER_CREATE, response.json()["id"])
    assert command.model_dump()["meta"] == {"a": [1, {"b": []}]}


async def test_a_retry_gets_the_same_order_and_another_body_with_the_key_gets_409(api: Api) -> None:
    first = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})
    again = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})
    other = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1", "paymentReference": "x"})
    assert first.json() == again.json()
    assert other.status_code == 409
    assert len(api.publisher.sent) == 2


async def test_a_paid_checkout_goes_with_its_command_and_the_key_is_only_written(api: Api) -> None:
    """A first request reads the view and reserves its key: the key is read only when a
    refusal must be told from a retry."""
    paid = checkout(CheckoutStatus.PAID)
    api.checkouts.stored["c1"] = paid
    assert (await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})).status_code == 200
    [(_, _, command)] = api.publisher.sent
    assert isinstance(command, OrderCreateCommand)
    assert command.paid_checkout == paid
    assert api.idempotency.reads == 0


async def test_a_paid_checkout_this_process_remembers_is_not_read_until_an_order_was_sent_for_it(api: Api) -> None:
    """A checkout remembered as paid goes with the command without a read of the view. Once
    an order was sent for it, the next request asks the view, whose claim refuses it."""
    paid = checkout(CheckoutStatus.PAID)
    api.recent_checkouts.take([paid])
    api.checkouts.stored.clear()
    first = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})
    assert first.status_code == 200
    assert api.checkouts.reads == 0
    [(_, _, command)] = api.publisher.sent
    assert isinstance(command, OrderCreateCommand)
    assert command.paid_checkout == paid

    api.checkouts.stored["c1"] = paid
    api.checkouts.claims["c1"] = first.json()["id"]
    second = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k2"})
    assert (second.status_code, api.checkouts.reads) == (409, 1)
    assert len(api.publisher.sent) == 1


async def test_a_retry_after_its_order_claimed_the_checkout_gets_the_same_answer(api: Api) -> None:
    api.checkouts.stored["c1"] = checkout(CheckoutStatus.PAID)
    first = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})
    api.checkouts.claims["c1"] = first.json()["id"]
    again = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})
    assert (again.status_code, again.json()) == (200, first.json())
    assert (await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k2"})).status_code == 409
    [_, (_, _, retried)] = api.publisher.sent
    assert isinstance(retried, OrderCreateCommand)
    assert retried.paid_checkout is None  # a retry is decided on the view as it is then


@pytest.mark.parametrize(
    ("found", "status"),
    [
        (checkout(CheckoutStatus.EXPIRED, version=2), 422),
        (checkout(CheckoutStatus.OPEN, version=2), 422),
        (checkout(CheckoutStatus.PAID, merchant_id="m2"), 404),
    ],
)
async def test_the_read_view_refuses_what_it_knows_the_writer_would_fail(api: Api, found: Any, status: int) -> None:
    api.checkouts.stored["c1"] = found
    response = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"})
    assert (response.status_code, response.json()["errors"][0]["field"]) == (status, "checkoutId")
    api.assert_nothing_changed()


async def test_an_ordered_checkout_is_409(api: Api) -> None:
    api.checkouts.stored["c1"] = checkout(CheckoutStatus.PAID)
    api.checkouts.claims["c1"] = "another-order"
    assert (await api.post("/orders", {"checkoutId": "c1"})).status_code == 409
    api.assert_nothing_changed()


@pytest.mark.parametrize("fields", UNSTORABLE_FIELDS.values(), ids=UNSTORABLE_FIELDS.keys())
async def test_what_no_store_can_hold_is_refused_before_anything_is_reserved(api: Api, fields: Any) -> None:
    """Items 1, 3 and 5 of the hardening issue: each of these was answered 200 (and then
    dead-lettered, the checkout blocked) or 500."""
    response = await api.post("/orders", {"checkoutId": "c1", "idempotencyKey": "k1"} | fields)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"
    api.assert_nothing_changed()


@pytest.mark.parametrize("raw", UNSTORABLE_JSON.values(), ids=UNSTORABLE_JSON.keys())
async def test_json_that_no_store_can_hold_is_refused(api: Api, raw: bytes) -> None:
    async with api.client() as client:
        response = await client.post("/orders", content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (400, 422), response.text
    json.loads(response.content)  # the problem itself is always valid JSON
    api.assert_nothing_changed()


@pytest.mark.parametrize(
    "url",
    [
        "http://①②⑦.0.0.1:8080/",
        "http://１２７.０.０.１/",
        "http://127。0。0。1/",
        "http://100.64.0.1/",
        "http://[2002:a9fe:a9fe::1]/",
    ],
)
async def test_internal_webhook_destinations_are_refused_however_spelled(api: Api, url: str) -> None:
    response = await api.post("/orders", {"checkoutId": "c1", "webhookUrls": [url]})
    assert (response.status_code, response.json()["errors"][0]["field"]) == (422, "webhookUrls[0]")
    api.assert_nothing_changed()


@pytest.mark.parametrize(
    "query",
    [
        "filter.userId=a%00b",
        "filter.createdAt=$gt:0001-01-01T00:00:00%2B05:00",
        "filter.createdAt=$lt:9999-12-31T23:59:59-05:00",
    ],
)
async def test_bad_filters_are_400_naming_the_parameter(api: Api, query: str) -> None:
    async with api.client() as client:
        response = await client.get(f"/orders?{query}")
    assert (response.status_code, response.json()["errors"][0]["field"]) == (400, query.split("=")[0])


@pytest.mark.parametrize("path", ["/orders/a%00b", "/orders/a%00b/confirm", "/orders/a%00b/webhook-deliveries"])
async def test_an_id_that_is_no_order_id_is_404_without_a_lookup(api: Api, path: str) -> None:
    async with api.client() as client:
        response = await (client.get(path) if "confirm" not in path else client.post(path))
    assert response.status_code == 404


async def test_replaying_dead_letters_needs_an_explicit_selector(api: Api) -> None:
    """Item 10: an empty body used to replay every merchant's dead letters."""
    assert (await api.post("/admin/webhook-dead-letters/replay", {}, key=ADMIN_KEY)).status_code == 422
    assert api.publisher.sent == []
    assert (await api.post("/admin/webhook-dead-letters/replay", {"all": True}, key=KEY)).status_code == 404
    response = await api.post("/admin/webhook-dead-letters/replay", {"all": True}, key=ADMIN_KEY)
    assert (response.status_code, response.json()) == (202, {"replayed": 3})
    [(topic, _, command)] = api.publisher.sent
    assert topic == api.settings.topics.webhook_commands
    assert command.model_dump()["selector"]["all"] is True


async def test_options_and_405_name_every_method_of_the_path(api: Api) -> None:
    async with api.client() as client:
        options = await client.options("/orders")
        put = await client.put("/orders")
    assert (options.status_code, options.headers["allow"]) == (204, "GET, POST, OPTIONS")
    assert (put.status_code, put.headers["allow"]) == (405, "GET, POST")


async def test_a_create_kafka_did_not_confirm_is_503_and_abandoned() -> None:
    api = Api(publisher=FakePublisher(fail=True))
    response = await api.post("/orders", {"checkoutId": "c1"})
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    assert [outcome for outcome, _ in api.log.outcomes.values()] == ["abandoned"]


async def _raw_request(api: Api, headers: list[tuple[bytes, bytes]], body_arrives: bool) -> list[Message]:
    """Call the app as a server would, for a POST announcing 100 bytes of body; the body
    comes only if ``body_arrives``, else the client goes silent."""
    sent: list[Message] = []

    async def receive() -> Message:
        if body_arrives:
            return {"type": "http.request", "body": b'{"checkoutId": "c1"}', "more_body": False}
        await asyncio.Event().wait()  # a client that never sends its body
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = orders_post_scope([(b"content-length", b"100"), (b"content-type", b"application/json"), *headers])
    await asyncio.wait_for(api.app(scope, receive, send), timeout=10)
    return sent


async def test_a_request_without_a_key_is_refused_before_its_body_is_read(api: Api) -> None:
    """Item 4: the body was read (without a time limit) before authentication."""
    sent = await _raw_request(api, [], body_arrives=False)
    assert sent[0]["status"] == 401


async def test_a_body_that_does_not_arrive_in_time_is_408(api: Api) -> None:
    sent = await _raw_request(api, [(b"authorization", f"Bearer {KEY}".encode())], body_arrives=False)
    assert sent[0]["status"] == 408
    api.assert_nothing_changed()


async def test_the_api_document_declares_what_the_service_answers(api: Api) -> None:
    """Item 9: every operation documents its errors as problem+json, the query parameters
    of GET /orders and the bearer scheme."""
    async with api.client(None) as client:
        document = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            errors = {code for code in operation["responses"] if code >= "400"}
            assert {"400", "401"} <= errors, (method, path)
            for code in errors:
                assert "application/problem+json" in operation["responses"][code]["content"], (method, path, code)
    names = {p["name"] for p in document["paths"]["/orders"]["get"]["parameters"]}
    assert {"filter.status", "filter.amount", "page", "pageSize", "sort"} <= names


async def test_ready_says_which_dependency_is_missing_while_health_stays_alive() -> None:
    api = Api()
    async with api.client(key=None) as client:
        ready = await client.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ready", "database": True, "kafka": True})
        api.kafka_up = False
        not_ready = await client.get("/ready")
        assert (not_ready.status_code, not_ready.json()["kafka"], not_ready.json()["database"]) == (503, False, True)
        assert (await client.get("/health")).status_code == 200


async def test_metrics_count_requests_by_route_template_never_by_raw_path() -> None:
    api = Api()
    async with api.client() as client:
        for _ in range(3):
            assert (await client.get(f"/orders/{uuid.uuid4()}")).status_code == 404
        assert (await client.get("/no/such/path")).status_code == 404
        assert (await api.client(key="wrong").get("/orders")).status_code == 401
        exposition = (await client.get("/metrics")).text
    assert 'orders_http_requests_total{method="GET",route="/orders/{order_id}",status="404"}' in exposition
    assert 'route="/no/such/path"' not in exposition
    assert 'orders_http_requests_total{method="GET",route="<unmatched>",status="404"}' in exposition
    assert 'orders_http_requests_total{method="GET",route="/orders",status="401"}' in exposition
    assert "orders_http_request_duration_seconds_bucket" in exposition


# --- webhook endpoints -----------------------------------------------------------------

HOOK = "https://hooks.example.com/orders"


async def test_an_endpoint_shows_its_secret_once_and_only_to_its_merchant(api: Api) -> None:
    created = await api.post("/webhook-endpoints", {"url": HOOK, "statuses": ["success"], "rateLimitPerSecond": 5})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert (body["eventTypes"], body["statuses"], body["enabled"]) == (
        ["order.status.updated", "returns.status.updated"],
        ["success"],
        True,
    )
    async with api.client() as client:
        listed = (await client.get("/webhook-endpoints")).json()["data"]
        assert [e["id"] for e in listed] == [body["id"]]
        assert "secret" not in listed[0]
        assert "secret" not in (await client.get(f"/webhook-endpoints/{body['id']}")).json()
    async with api.client(ADMIN_KEY) as other:  # another merchant's key (admin or not)
        assert (await other.get("/webhook-endpoints")).json() == {"data": []}
        for method, path in (
            ("GET", ""),
            ("PATCH", ""),
            ("DELETE", ""),
            ("POST", "/rotate-secret"),
            ("GET", "/attempts"),
            ("POST", "/recover"),
        ):
            json_body = {"since": "2026-11-01T00:00:00Z"} if path == "/recover" else {} if method != "GET" else None
            response = await other.request(method, f"/webhook-endpoints/{body['id']}{path}", json=json_body)
            assert response.status_code == 404, (method, path, response.text)
    assert api.publisher.sent == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "http://127.0.0.1/hook"}, "url"),
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": HOOK, "statuses": ["succes"]}, "statuses"),
        ({"url": HOOK, "eventTypes": ["order.created"]}, "eventTypes[0]"),
        ({"url": HOOK, "rateLimitPerSecond": 0}, "rateLimitPerSecond"),
        ({"url": HOOK, "secret": "mine"}, "secret"),
    ],
)
async def test_a_bad_endpoint_is_422_naming_the_field_and_stores_nothing(api: Api, fields: Any, field: str) -> None:
    response = await api.post("/webhook-endpoints", fields)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert api.endpoints.endpoints == {}


async def test_a_merchant_has_at_most_20_endpoints(api: Api) -> None:
    for i in range(20):
        assert (await api.post("/webhook-endpoints", {"url": f"{HOOK}/{i}"})).status_code == 201
    assert (await api.post("/webhook-endpoints", {"url": f"{HOOK}/21"})).status_code == 409
    assert len(api.endpoints.endpoints) == 20


async def test_enabling_again_overrides_the_dispatchers_disable(api: Api) -> None:
    endpoint_id = (await api.post("/webhook-endpoints", {"url": HOOK})).json()["id"]
    # Enabled two seconds ago, disabled by the dispatcher one second ago: times are kept to
    # the millisecond, and an enable in the disable's own millisecond would not undo it.
    now = utc_now()
    endpoint = api.endpoints.endpoints[endpoint_id]
    api.endpoints.endpoints[endpoint_id] = endpoint.model_copy(update={"enabled_at": now - timedelta(seconds=2)})
    api.endpoint_health.disabled[endpoint_id] = now - timedelta(seconds=1)
    async with api.client() as client:
        assert (await client.get(f"/webhook-endpoints/{endpoint_id}")).json()["enabled"] is False
        enabled = await client.patch(f"/webhook-endpoints/{endpoint_id}", json={"enabled": True})
        assert enabled.json()["enabled"] is True
        changed = await client.patch(f"/webhook-endpoints/{endpoint_id}", json={"statuses": None, "description": "x"})
        assert (changed.json()["statuses"], changed.json()["description"]) == ([], "x")
        assert (await client.delete(f"/webhook-endpoints/{endpoint_id}")).status_code == 204
        assert (await client.get(f"/webhook-endpoints/{endpoint_id}")).status_code == 404


async def test_recover_asks_the_dispatcher_and_counts_and_a_resend_of_nothing_failed_is_404(api: Api) -> None:
    endpoint_id = (await api.post("/webhook-endpoints", {"url": HOOK})).json()["id"]
    async with api.client() as client:
        recovered = await client.post(
            f"/webhook-endpoints/{endpoint_id}/recover", json={"since": "2026-11-01T00:00:00Z"}
        )
        assert (recovered.status_code, recovered.json()) == (202, {"replayed": 2})
        missing = await client.post(f"/webhook-endpoints/{endpoint_id}/resend", json={"eventId": "nothing-failed"})
        assert missing.status_code == 404
        assert (await client.post(f"/webhook-endpoints/{endpoint_id}/recover", json={})).status_code == 422
    [(topic, key, command)] = api.publisher.sent
    assert (topic, key) == ("webhook.commands", endpoint_id)
    assert command.model_dump(include={"type", "endpoint_id", "merchant_id"}) == {
        "type": "webhooks.recover",
        "endpointId": endpoint_id,
        "merchantId": "m1",
    }


async def test_a_rotation_answers_a_new_secret_and_keeps_the_old_one_signing(api: Api) -> None:
    created = (await api.post("/webhook-endpoints", {"url": HOOK})).json()
    rotated = await api.post(f"/webhook-endpoints/{created['id']}/rotate-secret", {})
    assert rotated.status_code == 200
    secrets = api.endpoints.endpoints[created["id"]].secrets
    assert [s.secret for s in secrets] == [created["secret"], rotated.json()["secret"]]
    assert secrets[0].expires_at is not None
    assert secrets[1].expires_at is None


async def test_the_portal_is_a_page_with_a_strict_policy_no_inline_script_and_only_its_own_files(api: Api) -> None:
    async with api.client(key=None) as client:
        page = await client.get("/portal")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        scripts = re.findall(r"<script[^>]*>", page.text)
        assert scripts == ['<script src="/portal/static/portal.js" defer>']
        assert not re.search(r"\son[a-z]+\s*=", page.text)  # no inline event handlers
        assert not re.search(r"(src|href)=\"(https?:)?//", page.text)  # nothing from elsewhere
        script = await client.get("/portal/static/portal.js")
        assert (script.status_code, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
        assert "innerHTML" not in script.text
        for path in ("/portal/static/../app.py", "/portal/static/%2e%2e%2fapp.py", "/portal/static/portal.html"):
            assert (await client.get(path)).status_code in (401, 404), path  # never a file of the service


# --- reports and exports ---------------------------------------------------------------

REPORT = "/reports/reconciliation"
RANGE = {"from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [
        ({"from": "2026-12-01T00:00:00Z", "to": "2026-10-01T00:00:00Z"}, {}, 400),  # from after to
        ({"from": "2025-01-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}, {}, 400),  # over a year
        ({"to": "2026-12-01T00:00:00Z"}, {}, 400),
        ({"from": "2026-10-01T00:00:00", "to": "2026-12-01T00:00:00Z"}, {}, 400),  # no time zone
        ({**RANGE, "filter.status": "success"}, {}, 400),
        ({**RANGE, "merchantId": "m2"}, {}, 400),  # not an admin key
        (RANGE, {"accept": "application/xml"}, 406),
    ],
)
async def test_a_bad_report_request_is_a_4xx_problem(
    api: Api, params: dict[str, str], headers: dict[str, str], status: int
) -> None:
    async with api.client() as client:
        response = await client.get(REPORT, params=params, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({"page": "2"}, {}),
        ({"filter.colour": "red"}, {}),
        ({"filter.amount": "$gt:x"}, {}),
        ({}, {"accept": "text/csv"}),
    ],
)
async def test_a_bad_export_request_is_a_4xx_problem(api: Api, params: dict[str, str], headers: dict[str, str]) -> None:
    async with api.client() as client:
        response = await client.get("/orders/export", params=params, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


def stored(api: Api, *records: OrderRecord) -> None:
    for record in records:
        api.orders.stored[record.id] = (record, [], [])


async def test_the_report_streams_the_merchants_orders_of_the_range_as_csv_or_json(api: Api) -> None:
    stored(
        api,
        order(OrderStatus.CREATED, id="o-late", created_at=NOW - timedelta(days=1), payment_reference="@pay"),
        order(OrderStatus.CANCELED_BY_MERCHANT, id="o-early", created_at=NOW - timedelta(days=20)),
        order(OrderStatus.CREATED, id="o-before", created_at=NOW - timedelta(days=90)),
        order(OrderStatus.CREATED, id="o-other", merchant_id="m2", created_at=NOW - timedelta(days=2)),
    )
    async with api.client() as client:
        as_csv = await client.get(REPORT, params=RANGE)
        as_json = await client.get(REPORT, params=RANGE, headers={"accept": "application/json"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    lines = as_csv.text.splitlines()
    assert lines[0].startswith("orderId,createdAt,paymentReference")
    assert [line.split(",")[0] for line in lines[1:]] == ["o-early", "o-late"]
    assert ",'@pay," in lines[2]
    body = as_json.json()
    assert [row["orderId"] for row in body["data"]] == ["o-early", "o-late"]
    assert body["totals"] == {"EGP": {"orders": 2, "amount": 9000, "refundedAmount": 0, "netAmount": 4500}}


async def test_the_export_is_ndjson_oldest_first_of_the_callers_orders(api: Api) -> None:
    stored(
        api,
        order(OrderStatus.CREATED, id="o2", created_at=NOW - timedelta(days=1)),
        order(OrderStatus.CREATED, id="o1", created_at=NOW - timedelta(days=3)),
        order(OrderStatus.CREATED, id="ox", merchant_id="m2", created_at=NOW - timedelta(days=2)),
    )
    async with api.client() as client:
        response = await client.get("/orders/export")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line)["id"] for line in response.text.splitlines()] == ["o1", "o2"]
