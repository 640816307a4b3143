"""The ingress process: a FastAPI app over MongoDB (reads) and Kafka (commands)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from schemas.api import MAX_REQUEST_BYTES
from services.shared.checkout_store import CheckoutStore
from services.shared.command_log import CommandLog
from services.shared.delivery_store import DeliveryStore
from services.shared.merchant_store import MerchantStore
from services.shared.mongo import close_client, open_database, prepare_database
from services.shared.order_store import OrderStore
from services.shared.settings import Settings

from .body_limit import BodySizeLimit
from .commands import CommandPublisher
from .idempotency_store import IdempotencyStore
from .problems import install_problem_handlers
from .routes import router

logger = logging.getLogger(__name__)


@dataclass
class Ingress:
    """What the request handlers use; one per process, on ``app.state.ingress``."""

    settings: Settings
    orders: OrderStore
    checkouts: CheckoutStore
    merchants: MerchantStore
    idempotency: IdempotencyStore
    deliveries: DeliveryStore
    command_log: CommandLog
    commands: CommandPublisher


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Neither MongoDB nor Kafka holds up the start (or a SIGTERM during it): until they
        # answer, requests that need them get 503 and /health says what is missing.
        client, db = open_database(settings)
        preparing = asyncio.create_task(prepare_database(db))
        commands = CommandPublisher(settings)
        commands.start()
        app.state.ingress = Ingress(
            settings,
            OrderStore(db),
            CheckoutStore(db),
            MerchantStore(db),
            IdempotencyStore(db),
            DeliveryStore(db),
            CommandLog(db),
            commands,
        )
        try:
            yield
        finally:
            preparing.cancel()
            await commands.stop()
            await close_client(client)

    app = FastAPI(title="Orders API", version="1.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_REQUEST_BYTES)
    return app


def run(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=20,
    )
