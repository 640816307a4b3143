"""The HTTP edge of the dispatcher: one signed POST, measured, never trusted.

aiohttp is the client, chosen by measurement (`tests/bench/http_clients.py`, docs/design.md
"The webhook HTTP client"): the fastest of the asyncio clients that let the destination check
see the address of every connection (``public_socket``), and `make bench` measures its bare
rate beside the dispatcher's."""

import asyncio
import socket
import time
from typing import Any

import aiohttp
from aiohttp.connector import AddrInfoType
from opentelemetry import trace

from services.domain.webhooks import AttemptResult, is_forbidden_address, literal_address, sign, url_for_logs
from services.shared.tracing import TRACEPARENT, traceparent_of

MAX_RESPONSE_BYTES = 4096
ABORT_HEADER = "webhook-delivery"
ABORT_VALUE = "abort-message"


class ForbiddenDestination(OSError):
    """An OSError, so that the connector treats it as a failed connection attempt."""


def public_socket(addr_info: AddrInfoType) -> socket.socket:
    """aiohttp's socket factory: called for every connection with the exact address it is
    about to connect to (after DNS, for literal hosts in any notation, for every address a
    name has), so nothing reaches inside the network however the URL spells its host."""
    family, kind, proto, _, sockaddr = addr_info
    address = literal_address(str(sockaddr[0]))
    if address is None or is_forbidden_address(address):
        raise ForbiddenDestination(f"{sockaddr[0]} is a forbidden address")
    return socket.socket(family=family, type=kind, proto=proto)


class WebhookSender:
    def __init__(self, *, timeout_seconds: float, allow_private: bool, connections: int) -> None:
        self._allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds, connect=min(timeout_seconds, 10.0))
        self._session: aiohttp.ClientSession | None = None
        self._connections = connections

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._connections,
            limit_per_host=0,
            ttl_dns_cache=60,
            socket_factory=None if self._allow_private else public_socket,
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, auto_decompress=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        """POST one webhook. Redirects are not followed, at most a few KiB of the answer
        are read, and every failure becomes a result, never an exception.

        The POST is the current span's (the attempt's, see ``Dispatcher._attempt``): its
        ``traceparent`` goes with the webhook, and the span gets the HTTP attributes, the
        URL without its query string (where merchants put tokens). aiohttp's OpenTelemetry
        instrumentation made a second span per attempt, an eighth of the dispatcher's time."""
        assert self._session is not None, "start() first"
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets, message_id, timestamp, body),
            "user-agent": "orders-webhooks/1",
        }
        span = trace.get_current_span()
        if traceparent := traceparent_of(span.get_span_context()):
            headers[TRACEPARENT] = traceparent
        started = time.perf_counter()
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await response.content.read(MAX_RESPONSE_BYTES)
                abort = response.headers.get(ABORT_HEADER, "").lower() == ABORT_VALUE
                result = AttemptResult(response.status, _since(started), None, abort)
        except (TimeoutError, aiohttp.ClientError, ForbiddenDestination, OSError, ValueError) as error:
            result = AttemptResult(None, _since(started), _error_class(error))
        span.set_attributes(_http_attributes(url, result))
        return result


def _http_attributes(url: str, result: AttemptResult) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {"http.request.method": "POST", "url.full": url_for_logs(url)}
    if result.status_code is not None:
        attributes["http.response.status_code"] = result.status_code
    if result.error is not None:
        attributes["error.type"] = result.error
    return attributes


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _error_class(error: BaseException) -> str:
    cause: Any = getattr(error, "__cause__", None) or getattr(error, "os_error", None)
    if isinstance(error, ForbiddenDestination) or isinstance(cause, ForbiddenDestination):
        return "ForbiddenDestination"
    if isinstance(error, asyncio.TimeoutError):
        return "Timeout"
    return type(error).__name__
