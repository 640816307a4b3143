"""Webhook rules: signatures (checked with the Standard Webhooks reference library, not
with our own code), URL checks, bodies and the retry decision."""

import ipaddress
import json
import socket
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from schemas.order import OrderStatus, ReturnStatus
from schemas.storage.webhooks import DeliveryState
from services.domain.events import event_for
from services.domain.merchants import api_key_hash, new_api_key, new_webhook_secret
from services.domain.webhooks import (
    AttemptResult,
    after_attempt,
    delivery_id,
    is_forbidden_address,
    sign,
    url_for_logs,
    webhook_body,
    webhook_url_problem,
)
from services.webhook_dispatcher.sender import ForbiddenDestination, public_socket
from tests.factories import NOW, a_return, order

SCHEDULE = (0.0, 5.0, 300.0)


def _headers(message_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_signature_verifies_with_the_reference_library() -> None:
    secret = new_webhook_secret()
    body = b'{"event":"order.status.updated"}'
    timestamp = int(time.time())
    signature = sign([secret], "msg_1", timestamp, body)
    Webhook(secret).verify(body, _headers("msg_1", timestamp, signature))


def test_signature_fails_for_another_secret_or_a_changed_body() -> None:
    secret, other = new_webhook_secret(), new_webhook_secret()
    timestamp = int(time.time())
    signature = sign([secret], "msg_1", timestamp, b"{}")
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(b"{}", _headers("msg_1", timestamp, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(b'{"a":1}', _headers("msg_1", timestamp, signature))


def test_during_rotation_both_secrets_sign() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    timestamp = int(time.time())
    signature = sign([old, new], "msg_2", timestamp, b"{}")
    assert len(signature.split(" ")) == 2
    Webhook(old).verify(b"{}", _headers("msg_2", timestamp, signature))
    Webhook(new).verify(b"{}", _headers("msg_2", timestamp, signature))


@pytest.mark.parametrize(
    ("url", "allow_private", "ok"),
    [
        ("https://merchant.example.com/hook", False, True),
        ("http://merchant.example.com:8080/a?b=c", False, True),
        ("ftp://merchant.example.com/hook", False, False),
        ("/relative/path", False, False),
        ("https://user:pass@merchant.example.com/", False, False),
        ("https://user@merchant.example.com/", False, False),
        ("http://127.0.0.1:9000/hook", False, False),
        ("http://127.0.0.1:9000/hook", True, True),
        ("http://10.1.2.3/hook", False, False),
        ("http://192.168.0.10/hook", False, False),
        ("http://169.254.169.254/latest/meta-data", False, False),
        ("http://[::1]/hook", False, False),
        ("http://[::ffff:127.0.0.1]/hook", False, False),
        ("http://224.0.0.1/hook", False, False),
        ("http://0.0.0.0/hook", False, False),
        ("https://merchant.example.com:99999/", False, False),
        ("https://merchant.example.com/" + "a" * 2048, False, False),
        ("https://merchant.example.com/a b", False, False),
    ],
)
def test_webhook_url_problem(url: str, allow_private: bool, ok: bool) -> None:
    assert (webhook_url_problem(url, allow_private=allow_private) is None) is ok


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
        ("127.0.0.2", True),
        ("172.16.5.4", True),
        ("fe80::1", True),
        ("100.64.0.1", True),  # shared address space (some clouds' metadata services)
        ("2002:a9fe:a9fe::1", True),  # 6to4 around 169.254.169.254
        ("2002:0808:0808::1", False),  # 6to4 around a public address
        ("fec0::1", True),  # IPv6 site-local
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 around 169.254.169.254
        ("::ffff:10.0.0.1", True),
        ("224.0.0.1", True),
    ],
)
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(ipaddress.ip_address(address)) is forbidden


@pytest.mark.parametrize(
    "address", [("127.0.0.1", 80), ("169.254.169.254", 80), ("::1", 80, 0, 0), ("2002:a9fe:a9fe::1", 443, 0, 0)]
)
def test_the_sender_refuses_to_connect_inside_the_network(address: tuple[object, ...]) -> None:
    """The socket factory sees the address aiohttp is about to connect to, however the URL
    spelled its host and whatever DNS answered."""
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    with pytest.raises(ForbiddenDestination):
        public_socket((family, socket.SOCK_STREAM, 6, "", address))


def test_the_sender_connects_to_public_addresses() -> None:
    public_socket((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 443))).close()


def test_order_webhook_body_carries_order_and_meta_verbatim() -> None:
    record = order(OrderStatus.CONFIRMED, meta={"internal_user_id": 18729, "nested": {"a": [1, "x"]}})
    body = json.loads(webhook_body(event_for(record, "order.status.updated", None, NOW)))
    assert body["event"] == "order.status.updated"
    assert body["meta"] == {"internal_user_id": 18729, "nested": {"a": [1, "x"]}}
    assert body["order"]["id"] == "o1"
    assert body["order"]["status"] == "pending.confirmed"
    assert body["order"]["version"] == 3


def test_return_webhook_body_carries_the_refund() -> None:
    refund = a_return("r1", ReturnStatus.PICKED_UP, 1)
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1, returns=[refund], meta={"k": "v"})
    body = json.loads(webhook_body(event_for(record, "returns.status.updated", refund, NOW)))
    assert body == {
        "event": "returns.status.updated",
        "refund": refund.model_dump(mode="json"),
        "orderId": "o1",
        "meta": {"k": "v"},
        "version": 3,
    }


def test_event_id_is_stable_per_order_version() -> None:
    record = order(OrderStatus.CONFIRMED)
    first = event_for(record, "order.status.updated", None, NOW)
    again = event_for(record, "order.status.updated", None, NOW)
    later = event_for(record.model_copy(update={"version": 4}), "order.status.updated", None, NOW)
    assert first.id == again.id != later.id
    assert (
        delivery_id(first.id, "https://a") == delivery_id(first.id, "https://a") != delivery_id(first.id, "https://b")
    )


@pytest.mark.parametrize(
    ("result", "attempts", "state", "retry_in"),
    [
        (AttemptResult(200, 1.0), 1, DeliveryState.DELIVERED, None),
        (AttemptResult(204, 1.0), 3, DeliveryState.DELIVERED, None),
        (AttemptResult(500, 1.0), 1, DeliveryState.PENDING, 5.0),
        (AttemptResult(302, 1.0), 2, DeliveryState.PENDING, 300.0),
        (AttemptResult(None, 1.0, "Timeout"), 2, DeliveryState.PENDING, 300.0),
        (AttemptResult(500, 1.0), 3, DeliveryState.DEAD, None),
        (AttemptResult(410, 1.0), 1, DeliveryState.ABORTED, None),
        (AttemptResult(500, 1.0, None, abort_requested=True), 1, DeliveryState.ABORTED, None),
    ],
)
def test_after_attempt(result: AttemptResult, attempts: int, state: DeliveryState, retry_in: float | None) -> None:
    step = after_attempt(result, attempts, SCHEDULE)
    assert (step.state, step.retry_in) == (state, retry_in)


def test_api_keys_are_random_and_hashed() -> None:
    first, second = new_api_key(), new_api_key()
    assert first != second
    assert api_key_hash(first) != first
    assert api_key_hash(first) == api_key_hash(first)
    assert len(api_key_hash(first)) == 64


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://shop.example/hooks/orders?token=s3cr3t", "https://shop.example/hooks/orders?…"),
        ("https://shop.example:8443/hooks#frag", "https://shop.example:8443/hooks"),
        ("http://[2001:db8::1]:8080/h?a=1", "http://[2001:db8::1]:8080/h?…"),
        ("https://shop.example", "https://shop.example"),
    ],
)
def test_logged_urls_hide_their_query_string(url: str, shown: str) -> None:
    assert url_for_logs(url) == shown
    assert "s3cr3t" not in url_for_logs(url)
