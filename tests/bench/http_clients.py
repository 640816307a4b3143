"""Which HTTP client the dispatcher should use: each candidate POSTs a webhook (its body's
size, its headers, signed) to the ``webhooks`` bench's receiver in its own process, 64
requests in flight, for a few seconds a round; rounds alternate between the candidates.
Prints each one's POST/s and its CPU time a POST (``time.process_time``, every thread of this
process, so a client that does its I/O on threads of its own pays for them too).

aiohttp and httpx come with the project; the others, at the versions measured, are laid
over its environment for the run only (``uv run --with``): installing them into ``.venv``
would break it, since niquests brings urllib3-future, which writes over urllib3's files.

    python3 -m uv run --frozen --with aiosonic==1.3.3 --with niquests==3.21.2 \
        --with curl-cffi==0.17.0 --with pyqwest==0.12.0 --with pyreqwest==0.15.1 \
        --with wreq==0.13.0 python -m tests.bench.http_clients [--rounds N] [--seconds S] [CLIENT ...]

It needs `make install` only (no Kafka, no database). A candidate that
is not installed is named as such and left out; this bench is not part of `make bench`: it
informed a choice of dependency, written down in docs/design.md ("The webhook HTTP client").
"""

import argparse
import asyncio
import importlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop

from services.domain.merchants import new_webhook_secret
from services.domain.webhooks import sign

from .common import machine
from .webhooks import BARE_BODY, concurrent_posts, receiver

IN_FLIGHT = 64
TIMEOUT_SECONDS = 10.0


def webhook_headers() -> dict[str, str]:
    """A webhook's headers as the dispatcher sends them, signed with a new secret."""
    timestamp = int(time.time())
    message_id = "msg_2Kc8wHjzqkEGm2bLxUNpwV4Yx1f"
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign([new_webhook_secret()], message_id, timestamp, BARE_BODY),
        "user-agent": "orders-webhooks/1",
    }


@dataclass(frozen=True)
class Candidate:
    """How one client opens and POSTs (reading the answer); ``close_client`` closes any."""

    module: str
    open: Callable[[Any], Awaitable[Any]]
    post: Callable[[Any, str, dict[str, str]], Awaitable[None]]


def _made_by(name: str) -> Callable[[Any], Awaitable[Any]]:
    """Opens a client as ``module.<name>()``, with its defaults."""

    async def open_client(module: Any) -> Any:
        return getattr(module, name)()

    return open_client


async def _aiohttp_open(aiohttp: Any) -> Any:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))


async def _aiohttp_post(session: Any, url: str, headers: dict[str, str]) -> None:
    async with session.post(url, data=BARE_BODY, headers=headers, allow_redirects=False) as response:
        await response.content.read(4096)


async def _httpx_open(httpx: Any) -> Any:
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    return httpx.AsyncClient(limits=limits, timeout=TIMEOUT_SECONDS)


async def _httpx_post(client: Any, url: str, headers: dict[str, str]) -> None:
    await client.post(url, content=BARE_BODY, headers=headers)


async def _aiosonic_post(client: Any, url: str, headers: dict[str, str]) -> None:
    response = await client.post(url, data=BARE_BODY, headers=headers)
    await response.content()


async def _niquests_open(niquests: Any) -> Any:
    return niquests.AsyncSession(pool_maxsize=IN_FLIGHT)


async def _requests_like_post(session: Any, url: str, headers: dict[str, str]) -> None:
    await session.post(url, data=BARE_BODY, headers=headers, allow_redirects=False, timeout=TIMEOUT_SECONDS)


async def _curl_open(curl_cffi: Any) -> Any:
    return curl_cffi.AsyncSession(max_clients=IN_FLIGHT)


async def _pyreqwest_open(pyreqwest_client: Any) -> Any:
    from datetime import timedelta

    builder = pyreqwest_client.ClientBuilder().follow_redirects(False)
    return builder.timeout(timedelta(seconds=TIMEOUT_SECONDS)).build()


async def _pyreqwest_post(client: Any, url: str, headers: dict[str, str]) -> None:
    response = await client.post(url).headers(headers).body_bytes(BARE_BODY).build().send()
    await response.bytes()


async def _pyqwest_post(client: Any, url: str, headers: dict[str, str]) -> None:
    await asyncio.wait_for(client.post(url, headers, BARE_BODY), TIMEOUT_SECONDS)


async def _wreq_post(client: Any, url: str, headers: dict[str, str]) -> None:
    response = await client.post(url, headers=headers, body=BARE_BODY)
    await response.bytes()


async def close_client(client: Any) -> None:
    for name in ("close", "aclose"):
        if closing := getattr(client, name, None):
            result = closing()
            if asyncio.iscoroutine(result):
                await result
            return


CANDIDATES = {
    "aiohttp": Candidate("aiohttp", _aiohttp_open, _aiohttp_post),
    "httpx": Candidate("httpx", _httpx_open, _httpx_post),
    "aiosonic": Candidate("aiosonic", _made_by("HTTPClient"), _aiosonic_post),
    "niquests": Candidate("niquests", _niquests_open, _requests_like_post),
    "curl_cffi": Candidate("curl_cffi", _curl_open, _requests_like_post),
    "pyqwest": Candidate("pyqwest", _made_by("Client"), _pyqwest_post),
    "pyreqwest": Candidate("pyreqwest.client", _pyreqwest_open, _pyreqwest_post),
    "wreq": Candidate("wreq", _made_by("Client"), _wreq_post),
}


async def one_round(candidate: Candidate, module: Any, url: str, seconds: float) -> tuple[float, float]:
    """POST/s and CPU µs a POST, after one POST per slot has opened the pool's connections."""
    client = await candidate.open(module)
    headers = webhook_headers()
    try:
        await asyncio.gather(*(candidate.post(client, url, headers) for _ in range(IN_FLIGHT)))
        return await concurrent_posts(lambda: candidate.post(client, url, headers), seconds, IN_FLIGHT)
    finally:
        await close_client(client)


async def main(names: list[str], rounds: int, seconds: float) -> None:
    modules: dict[str, Any] = {}
    for name in names:
        try:
            modules[name] = importlib.import_module(CANDIDATES[name].module)
        except ImportError:
            print(f"{name}: not installed (see this bench's docstring)")
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in modules}
    async with receiver() as base:
        url = base + "/bare/x"
        for number in range(rounds):
            for name, module in modules.items():
                figures[name].append(await one_round(CANDIDATES[name], module, url, seconds))
                rate, cpu = figures[name][-1]
                print(f"round {number + 1}  {name:10} {rate:8,.0f} POST/s  {cpu:7.1f} µs CPU a POST", flush=True)
    print(f"\n{machine()}; medians of {rounds} rounds of {seconds:g} s, {IN_FLIGHT} in flight")
    aiohttp_cpu = statistics.median(cpu for _, cpu in figures["aiohttp"]) if figures.get("aiohttp") else None
    for name, runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        versus = f"  {cpu / aiohttp_cpu:5.2f}× aiohttp's CPU" if aiohttp_cpu else ""
        print(f"{name:10} {rate:8,.0f} POST/s  {cpu:7.1f} µs CPU a POST{versus}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clients", nargs="*", metavar="CLIENT", help=", ".join(CANDIDATES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    arguments = parser.parse_args()
    if unknown := set(arguments.clients) - set(CANDIDATES):
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    uvloop.run(main(arguments.clients or list(CANDIDATES), arguments.rounds, arguments.seconds))
