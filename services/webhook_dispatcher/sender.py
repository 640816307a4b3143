"""The HTTP edge of the dispatcher: one signed POST, measured, never trusted.

aiohttp is the client: against the same receiver on this workplace's 2-core machines it
sustains 15 to 20 times httpx's POST rate (../shared/spec/infrastructure-facts.md), and
`make bench` measures its bare rate beside the dispatcher's."""

import asyncio
import socket
import time
from typing import Any

import aiohttp
from aiohttp.connector import AddrInfoType
from opentelemetry.instrumentation.aiohttp_client import create_trace_config

from services.domain.webhooks import AttemptResult, is_forbidden_address, literal_address, sign, url_for_logs

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
        # A span per attempt, whose `traceparent` header continues the event's trace; spans
        # name the URL without its query string, where merchants put tokens.
        traced = create_trace_config(url_filter=lambda url: url_for_logs(str(url)))
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False, trace_configs=[traced]
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, url: str, message_id: str, body: bytes, secrets: list[str]) -> AttemptResult:
        """POST one webhook. Redirects are not followed, at most a few KiB of the answer
        are read, and every failure becomes a result, never an exception."""
        assert self._session is not None, "start() first"
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets, message_id, timestamp, body),
            "user-agent": "orders-webhooks/1",
        }
        started = time.perf_counter()
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await response.content.read(MAX_RESPONSE_BYTES)
                abort = response.headers.get(ABORT_HEADER, "").lower() == ABORT_VALUE
                return AttemptResult(response.status, _since(started), None, abort)
        except (TimeoutError, aiohttp.ClientError, ForbiddenDestination, OSError, ValueError) as error:
            return AttemptResult(None, _since(started), _error_class(error))


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _error_class(error: BaseException) -> str:
    cause: Any = getattr(error, "__cause__", None) or getattr(error, "os_error", None)
    if isinstance(error, ForbiddenDestination) or isinstance(cause, ForbiddenDestination):
        return "ForbiddenDestination"
    if isinstance(error, asyncio.TimeoutError):
        return "Timeout"
    return type(error).__name__
