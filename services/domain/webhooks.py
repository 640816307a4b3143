"""Webhook rules: which URLs may be called, what is sent, how it is signed, when to retry."""

import base64
import functools
import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from yarl import URL

from schemas.events import OrderEvent
from schemas.storage.webhooks import DeliveryState
from schemas.webhooks import OrderStatusWebhook, ReturnStatusWebhook

MAX_WEBHOOK_URLS = 10
MAX_WEBHOOK_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _with_embedded(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address it carries inside (mapped, 6to4, Teredo, NAT64),
    since a packet to the outer one can reach the inner one."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        found += [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
        found += list(address.teredo or ())
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def is_forbidden_address(address: IPAddress) -> bool:
    """Whatever is not globally reachable is inside some network, never a merchant's
    endpoint: loopback, private, shared (100.64/10), link-local, documentation, reserved,
    unspecified; and multicast and IPv6 site-local, which the registry calls global."""
    return any(
        not candidate.is_global
        or candidate.is_multicast
        or (isinstance(candidate, ipaddress.IPv6Address) and candidate.is_site_local)
        for candidate in _with_embedded(address)
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host names by itself, in any form the resolver accepts (``127.1``,
    ``0x7f.1``, ``2130706433`` included), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def webhook_url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why a webhook URL is refused at request time, or None when it is acceptable. The host
    is checked as the HTTP client will read it (yarl folds full-width digits and ideographic
    dots to ASCII); the sender checks again every address it connects to."""
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        return f"must be at most {MAX_WEBHOOK_URL_LENGTH} characters"
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        return "must not contain white space or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
        host = URL(url).host
    except (ValueError, TypeError, UnicodeError):
        return "is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or not host:
        return "must be an absolute http or https URL"
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials"
    address = literal_address(host)
    if address is not None and not allow_private and is_forbidden_address(address):
        return "points to a loopback, private, shared, link-local, multicast or reserved address"
    return None


@functools.lru_cache(maxsize=4096)
def url_for_logs(url: str) -> str:
    """A webhook URL as logs (and the attempt's span) may show it: scheme, host and path.
    Merchants put tokens in query strings, and a token is as secret as a key."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    hidden = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{hidden}"


def webhook_body(event: OrderEvent) -> bytes:
    """The JSON body a merchant's URL receives for an event."""
    if event.type == "returns.status.updated" and event.refund is not None:
        body = ReturnStatusWebhook(
            refund=event.refund, order_id=event.order_id, meta=event.order.meta, version=event.version
        )
        return body.model_dump_json().encode()
    return OrderStatusWebhook(order=event.order, meta=event.order.meta).model_dump_json().encode()


def _secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secrets: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature`` header: one ``v1,<base64 HMAC-SHA256>``
    per active secret (two while a secret is being rotated), space-separated."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_secret_key(s), signed, hashlib.sha256).digest()).decode() for s in secrets
    )


def retry_delay(schedule: Sequence[float], attempts_made: int) -> float | None:
    """Seconds to wait before the next attempt after ``attempts_made`` attempts, or None
    when the schedule is exhausted. ``schedule[0]`` is the delay of the first attempt
    ("at once"), so ``schedule[n]`` is the wait before attempt ``n + 1``."""
    return schedule[attempts_made] if attempts_made < len(schedule) else None


def delivery_id(event_id: str, url: str) -> str:
    """One delivery per event and URL, whatever how often the event arrives."""
    return f"{event_id}.{hashlib.sha256(url.encode()).hexdigest()[:24]}"


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration_ms: float
    error: str | None = None
    abort_requested: bool = False

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class NextStep:
    state: DeliveryState
    retry_in: float | None = None


def after_attempt(result: AttemptResult, attempts_made: int, schedule: Sequence[float]) -> NextStep:
    """What becomes of a delivery after an attempt: done, stopped by the receiver, retried
    after the schedule's next delay, or dead-lettered when the schedule is exhausted."""
    if result.succeeded:
        return NextStep(DeliveryState.DELIVERED)
    if result.status_code == 410 or result.abort_requested:
        return NextStep(DeliveryState.ABORTED)
    delay = retry_delay(schedule, attempts_made)
    if delay is None:
        return NextStep(DeliveryState.DEAD)
    return NextStep(DeliveryState.PENDING, delay)
