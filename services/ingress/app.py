"""The ingress process: a FastAPI app over the queries the other services publish (reads)
and Kafka (commands)."""

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.datastructures import Headers
from starlette.types import Scope

from schemas.api import MAX_REQUEST_BYTES
from services.order_writer.claims import CommandClaims
from services.order_writer.queries import CheckoutQueries, OrderQueries
from services.shared.merchant_store import INDEXES as REGISTRY_INDEXES
from services.shared.merchant_store import MerchantStore, Principal
from services.shared.metrics import HttpMetrics
from services.shared.mongo import Database, close_client, open_database, prepare_database
from services.shared.operations import Check, database_check, is_traced, operations_routes
from services.shared.retry import MONGO_UNAVAILABLE
from services.shared.settings import Settings
from services.webhook_dispatcher.queries import DeliveryQueries, EndpointHealthQueries

from .checkout_feed import follow_checkouts
from .commands import CommandPublisher
from .endpoint_routes import router as endpoint_router
from .endpoint_store import INDEXES as ENDPOINT_INDEXES
from .endpoint_store import EndpointStore
from .gate import RequestGate
from .idempotency_store import IdempotencyStore
from .openapi import describe_api
from .portal import router as portal_router
from .ports import (
    CheckoutReads,
    CommandAbandonment,
    DeliveryReads,
    EndpointHealthReads,
    EndpointRegistry,
    IdempotencyKeys,
    KeyRegistry,
    OrderReads,
    Publisher,
)
from .problems import Problem, install_problem_handlers
from .recent_checkouts import RecentCheckouts
from .report_routes import router as report_router
from .routes import PLAIN_ROUTES, router

logger = logging.getLogger(__name__)


@dataclass
class Ingress:
    """What the request handlers use; one per process, on ``app.state.ingress``."""

    settings: Settings
    orders: OrderReads
    checkouts: CheckoutReads
    recent_checkouts: RecentCheckouts
    merchants: KeyRegistry
    idempotency: IdempotencyKeys
    deliveries: DeliveryReads
    claims: CommandAbandonment
    commands: Publisher
    endpoints: EndpointRegistry
    endpoint_health: EndpointHealthReads
    readiness: Mapping[str, Check]
    """What ``/ready`` asks."""


@asynccontextmanager
async def production_ingress(settings: Settings) -> AsyncIterator[Ingress]:
    """The ingress over MongoDB and Kafka. Neither holds up the start (or a SIGTERM during
    it): until they answer, requests that need them get 503."""
    client, db = open_database(settings)
    endpoints = EndpointStore(db)

    async def prepare() -> None:
        await prepare_database(db, {**REGISTRY_INDEXES, **IdempotencyStore.INDEXES, **ENDPOINT_INDEXES})
        await endpoints.prepare()

    preparing = asyncio.create_task(prepare())
    commands = CommandPublisher(settings)
    recent_checkouts = RecentCheckouts(settings.ingress_recent_checkouts)
    if recent_checkouts.capacity:
        follow_checkouts(commands.broker, settings.topics.checkout_events, recent_checkouts)
    commands.start()
    try:
        yield Ingress(
            settings,
            OrderQueries(db),
            CheckoutQueries(db),
            recent_checkouts,
            MerchantStore(db, cache_seconds=settings.api_key_cache_seconds),
            IdempotencyStore(db),
            DeliveryQueries(db),
            CommandClaims(db),
            commands,
            endpoints,
            EndpointHealthQueries(db),
            readiness_checks(db, commands),
        )
    finally:
        preparing.cancel()
        await commands.stop()
        await close_client(client)


def readiness_checks(db: Database, commands: CommandPublisher) -> dict[str, Check]:
    async def kafka_connected() -> bool:
        return commands.connected

    return {"database": database_check(db), "kafka": kafka_connected}


UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}


async def authenticate(scope: Scope) -> Principal:
    """The caller of a request, from its bearer key; a 401 (or 503) ``Problem`` otherwise."""
    scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "send 'Authorization: Bearer <api key>'", headers=UNAUTHORIZED)
    ingress: Ingress = scope["app"].state.ingress
    try:
        found = await ingress.merchants.principal(token.strip())
    except MONGO_UNAVAILABLE as error:
        raise Problem(503, "the database is not reachable; try again", headers={"Retry-After": "5"}) from error
    if found is None:
        raise Problem(401, "unknown or revoked API key", headers=UNAUTHORIZED)
    return found


NO_FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""Requests' spans are ``HttpMetrics``'s, their metrics too, their errors are logged by the
problem handlers: FastAPI's own telemetry would only look, on every request, whether it is on."""


def create_app(settings: Settings) -> FastAPI:
    """The app; its lifespan puts the production ``Ingress`` on ``app.state.ingress`` (unit
    tests put one over fakes there instead, without running the lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with production_ingress(settings) as ingress:
            app.state.ingress = ingress
            yield

    # The routers' routes go straight into the app's, in this order (/orders/export before
    # /orders/{order_id}): FastAPI's ``include_router`` matches through a layer per router
    # on every request.
    routes = [*PLAIN_ROUTES, *report_router.routes, *router.routes, *endpoint_router.routes, *portal_router.routes]
    app = FastAPI(title="Orders API", version="1.0", lifespan=lifespan, routes=routes, telemetry=NO_FASTAPI_TELEMETRY)
    install_problem_handlers(app)
    app.router.routes.extend(operations_routes(lambda: app.state.ingress.readiness))
    app.add_middleware(
        RequestGate,
        authenticate=authenticate,
        max_bytes=MAX_REQUEST_BYTES,
        body_seconds=settings.request_body_timeout_seconds,
    )
    app.add_middleware(HttpMetrics, routes=lambda: app.routes, traced=is_traced)
    describe_api(app)
    return app


def run(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,  # the process's own logging (services/shared/logs.py), JSON included
        timeout_graceful_shutdown=20,
    )
