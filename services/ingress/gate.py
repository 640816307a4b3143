"""Every request passes the gate before the app reads its body: the API key is checked
first (401 at once, no body read), then the body is read within a size limit (413) and a
time limit (408), so a client that announces a body and sends it slowly, or never, holds
nothing for long and learns nothing without a key."""

import asyncio
from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.shared.merchant_store import Principal
from services.shared.operations import OPERATIONS_PATHS

from .portal import is_portal_path
from .problems import Problem, problem_response

Authenticate = Callable[[Scope], Awaitable[Principal]]
"""The caller of a request, or a 401 ``Problem``."""

PUBLIC_PATHS = OPERATIONS_PATHS | {"/openapi.json", "/docs", "/docs/oauth2-redirect"}
PRINCIPAL = "principal"
"""Where the gate leaves the caller, in the request's state."""


class RequestGate:
    def __init__(self, app: ASGIApp, *, authenticate: Authenticate, max_bytes: int, body_seconds: float) -> None:
        self.app = app
        self.authenticate = authenticate
        self.max_bytes = max_bytes
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        public = scope["type"] != "http" or scope["path"] in PUBLIC_PATHS or is_portal_path(scope["path"])
        if public or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        try:
            scope.setdefault("state", {})[PRINCIPAL] = await self.authenticate(scope)
            announced = dict(scope["headers"]).get(b"content-length")
            if announced is not None and announced.isdigit() and int(announced) > self.max_bytes:
                raise self._too_large()
            body = await self._read_body(receive)
        except Problem as problem:
            await problem_response(problem)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> Message:
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_seconds):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return message
                    chunks.append(message.get("body", b""))
                    size += len(chunks[-1])
                    if size > self.max_bytes:
                        raise self._too_large()
                    if not message.get("more_body", False):
                        return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        except TimeoutError:
            raise Problem(408, f"the request body did not arrive within {self.body_seconds:g} seconds") from None

    def _too_large(self) -> Problem:
        return Problem(413, f"request bodies are limited to {self.max_bytes} bytes")


def _replay(first: Message, then: Receive) -> Receive:
    """The body the gate read, then whatever else the server has (a disconnect)."""
    pending = [first]

    async def receive() -> Message:
        return pending.pop() if pending else await then()

    return receive
