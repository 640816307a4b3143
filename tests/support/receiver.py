"""A webhook receiver the tests run: endpoints that answer at once, slowly, flakily, with
errors, with 410 Gone, or never; it records every request it gets."""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    host: str = "127.0.0.1"
    received: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0
    _flaky_calls: dict[str, int] = field(default_factory=dict)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    healthy_paths: set[str] = field(default_factory=set)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{behaviour}/{name}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        self._stopping.set()  # ends the hanging handlers
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, behaviour: str, name: str = "hook") -> str:
        return f"http://{self.host}:{self.port}/{behaviour}/{name}"

    def heal(self, behaviour: str, name: str = "hook") -> None:
        """From now on this failing endpoint answers 200."""
        self.healthy_paths.add(f"/{behaviour}/{name}")

    def at(self, url_or_path: str) -> list[Received]:
        """What arrived at one endpoint (given by its URL or its path)."""
        path = url_or_path.split(f":{self.port}", 1)[-1]
        return [r for r in self.received if r.path == path]

    async def wait_for(self, url_or_path: str, count: int = 1, timeout: float = 20) -> list[Received]:
        """Wait until at least ``count`` requests arrived at an endpoint; all of them."""
        deadline = time.monotonic() + timeout
        while len(self.at(url_or_path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{url_or_path}: {len(self.at(url_or_path))} of {count} requests within {timeout}s"
                )
            await asyncio.sleep(0.05)
        return self.at(url_or_path)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append(Received(request.path, headers, body, time.monotonic()))
        behaviour = request.match_info["behaviour"]
        if request.path in self.healthy_paths:
            return web.Response(status=200)
        if behaviour == "slow":
            await asyncio.sleep(1.0)
        elif behaviour == "hang":
            await self._stopping.wait()
        elif behaviour == "fail":
            return web.Response(status=500, text="boom")
        elif behaviour == "flaky":  # every other request fails: 50 %, deterministically
            calls = self._flaky_calls[request.path] = self._flaky_calls.get(request.path, 0) + 1
            if calls % 2 == 1:
                return web.Response(status=503)
        elif behaviour == "gone":
            return web.Response(status=410)
        elif behaviour == "abort":
            return web.Response(status=500, headers={"webhook-delivery": "abort-message"})
        elif behaviour == "redirect":
            raise web.HTTPFound(location=f"/ok/{request.match_info['name']}")
        return web.Response(status=200, text="ok")
