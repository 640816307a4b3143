"""MongoDB connection, collection names and indexes (MongoDB and FerretDB v1 alike)."""

import asyncio
import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .retry import MONGO_UNAVAILABLE, until_available
from .settings import Settings

logger = logging.getLogger(__name__)

Document = dict[str, Any]
Database = AsyncDatabase[Document]

ORDERS = "orders"
CHECKOUTS = "checkouts"
IDEMPOTENCY_KEYS = "idempotency_keys"
API_KEYS = "api_keys"
MERCHANTS = "merchants"
PARKED_CREATES = "parked_creates"
COMMAND_LOG = "command_log"
WEBHOOK_DELIVERIES = "webhook_deliveries"
WEBHOOK_ATTEMPTS = "webhook_attempts"

INDEXES: dict[str, list[list[tuple[str, int]]]] = {
    ORDERS: [
        [("merchantId", ASCENDING), ("createdAt", DESCENDING), ("id", DESCENDING)],
        [("merchantId", ASCENDING), ("userId", ASCENDING), ("createdAt", DESCENDING)],
        [("merchantId", ASCENDING), ("status", ASCENDING), ("createdAt", DESCENDING)],
        [("merchantId", ASCENDING), ("idempotencyKey", ASCENDING)],
        [("merchantId", ASCENDING), ("amount", ASCENDING)],
        [("checkoutId", ASCENDING)],
        [("createdAt", DESCENDING), ("id", DESCENDING)],
        [("outboxSince", ASCENDING)],
    ],
    PARKED_CREATES: [[("checkoutId", ASCENDING)], [("deadline", ASCENDING)]],
    WEBHOOK_DELIVERIES: [
        [("state", ASCENDING), ("dueAt", ASCENDING)],
        [("orderId", ASCENDING), ("createdAt", DESCENDING)],
        [("batchId", ASCENDING)],
    ],
    WEBHOOK_ATTEMPTS: [[("orderId", ASCENDING), ("attemptedAt", DESCENDING)]],
    API_KEYS: [[("merchantId", ASCENDING)]],
}


def open_database(settings: Settings) -> tuple[AsyncMongoClient[Document], Database]:
    """A client and the database of ``MONGODB_URL``; connects lazily (no I/O here)."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongodb_url,
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        connectTimeoutMS=5000,
        maxPoolSize=settings.mongodb_pool_size,
    )
    return client, client.get_default_database(default="orders")


async def prepare_database(db: Database) -> None:
    """Wait until the database answers (saying so in the log), then create the indexes."""
    await until_available("MongoDB", lambda: ensure_indexes(db), MONGO_UNAVAILABLE)


async def connect(settings: Settings) -> tuple[AsyncMongoClient[Document], Database]:
    client, db = open_database(settings)
    await prepare_database(db)
    return client, db


async def close_client(client: AsyncMongoClient[Document], timeout: float = 3.0) -> None:
    """Close the client, but not for long: ``close()`` awaits the driver's background
    tasks, and a server monitor in the middle of a check after a network failure keeps it
    waiting for seconds. Nothing is left to write by then; the process is about to exit."""
    try:
        await asyncio.wait_for(client.close(), timeout)
    except TimeoutError:
        logger.info("the MongoDB client did not close within %.0fs; leaving its sockets to the OS", timeout)


async def ensure_indexes(db: Database) -> None:
    """Create the indexes the queries need; idempotent, run at every start-up."""
    for collection, indexes in INDEXES.items():
        for keys in indexes:
            await db[collection].create_index(keys)
    logger.info("indexes are in place")
