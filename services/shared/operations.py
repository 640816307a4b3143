"""What operators and orchestrators ask every process: ``/health`` (the process is alive),
``/ready`` (it can do its work now) and ``/metrics`` (Prometheus). The ingress serves them
beside its API; the writer and the dispatcher on a port of their own."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping

import uvicorn
from faststream.kafka import KafkaBroker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .kafka import AssignmentWatch
from .metrics import HttpMetrics, metrics_text
from .mongo import Database

logger = logging.getLogger(__name__)

Check = Callable[[], Awaitable[bool]]
"""One thing the process needs, answering whether it is there now."""

CHECK_SECONDS = 2.0
OPERATIONS_PATHS = frozenset({"/health", "/ready", "/metrics"})
"""The paths of ``operations_routes``: public, and not traced."""


def is_traced(path: str) -> bool:
    """Whether a request to the ingress gets a span: all but what orchestrators poll."""
    return path not in OPERATIONS_PATHS


async def _passes(check: Check) -> bool:
    try:
        return await asyncio.wait_for(check(), CHECK_SECONDS)
    except Exception:  # noqa: BLE001 - a check that fails or hangs is a "no"
        return False


async def readiness(checks: Mapping[str, Check]) -> Response:
    """200 when every check passes, 503 otherwise; the body says which failed."""
    results = dict(zip(checks, await asyncio.gather(*(_passes(c) for c in checks.values())), strict=True))
    ready = all(results.values())
    return JSONResponse({"status": "ready" if ready else "not ready", **results}, status_code=200 if ready else 503)


async def health(_: Request) -> Response:
    return JSONResponse({"status": "alive"})


async def metrics(_: Request) -> Response:
    body, content_type = metrics_text()
    return Response(body, media_type=content_type)


def database_check(db: Database) -> Check:
    async def answers() -> bool:
        await db.command("ping")
        return True

    return answers


def consumer_checks(db: Database, broker: KafkaBroker, watches: list[AssignmentWatch]) -> dict[str, Check]:
    """What a consuming service needs: the database, Kafka, and its consumers in their groups
    (``watches`` is filled in once the subscribers exist; empty means not yet)."""

    async def kafka_answers() -> bool:
        return await broker.ping(timeout=1.0)

    async def consumers_joined() -> bool:
        return bool(watches) and all(w.joined for w in watches)

    return {"database": database_check(db), "kafka": kafka_answers, "consumers": consumers_joined}


def operations_routes(checks: Callable[[], Mapping[str, Check]]) -> list[BaseRoute]:
    """``checks`` gives what ``/ready`` asks, when it is asked."""

    async def ready(_: Request) -> Response:
        return await readiness(checks())

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


class _ServerBesideTheService(uvicorn.Server):
    """Leaves SIGTERM and SIGINT to the service, which stops this server when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_operations(name: str, host: str, port: int, checks: Mapping[str, Check]) -> uvicorn.Server:
    """Start answering on ``host:port`` (in this event loop) and return the server; its
    ``should_exit`` stops it."""
    app = Starlette(routes=operations_routes(lambda: checks))
    app.add_middleware(HttpMetrics, routes=lambda: app.routes)
    server = _ServerBesideTheService(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(), name=f"{name} operations")
    while not server.started:
        if task.done():
            task.result()  # the port is taken, say: fail the start
            raise RuntimeError(f"the {name} operations server stopped before it started")
        await asyncio.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    logger.info("%s answers /health, /ready and /metrics on http://%s:%d", name, host, bound)
    return server
