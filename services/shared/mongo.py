"""MongoDB connection and index creation (MongoDB and FerretDB v1 alike).

Collections belong to the service that writes them; each declares its own indexes beside
its store and creates only those (``prepare_database(db, INDEXES)``)."""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from .retry import MONGO_UNAVAILABLE, until_available
from .settings import Settings

logger = logging.getLogger(__name__)

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Indexes = Mapping[str, Sequence[Sequence[tuple[str, int]]]]
"""Collection -> the key patterns of its indexes."""


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


async def prepare_database(db: Database, indexes: Indexes) -> None:
    """Wait until the database answers (saying so in the log), then create ``indexes``."""
    await until_available("MongoDB", lambda: ensure_indexes(db, indexes), MONGO_UNAVAILABLE)


async def connect(settings: Settings, indexes: Indexes) -> tuple[AsyncMongoClient[Document], Database]:
    client, db = open_database(settings)
    await prepare_database(db, indexes)
    return client, db


async def close_client(client: AsyncMongoClient[Document], timeout: float = 3.0) -> None:
    """Close the client, but not for long: ``close()`` awaits the driver's background
    tasks, and a server monitor in the middle of a check after a network failure keeps it
    waiting for seconds. Nothing is left to write by then; the process is about to exit."""
    try:
        await asyncio.wait_for(client.close(), timeout)
    except TimeoutError:
        logger.info("the MongoDB client did not close within %.0fs; leaving its sockets to the OS", timeout)


async def ensure_indexes(db: Database, indexes: Indexes) -> None:
    """Create ``indexes``; idempotent, run at every start-up."""
    for collection, patterns in indexes.items():
        for keys in patterns:
            await db[collection].create_index(list(keys))
    logger.info("indexes of %s are in place", ", ".join(indexes) or "nothing")


DUPLICATE_KEY = 11000


async def insert_new(collection: AsyncCollection[Document], documents: Sequence[Document]) -> list[bool]:
    """Insert ``documents`` with one unordered bulk command; for each, whether it was new
    (False: a document with its unique key was there before). Other errors are raised."""
    if not documents:
        return []
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        duplicates = {e["index"] for e in errors}
        return [i not in duplicates for i in range(len(documents))]
    return [True] * len(documents)


class GroupInsert:
    """Inserts from concurrent callers gathered into one unordered bulk insert (a group
    commit): the first document waits at most ``window`` seconds for others (or until
    ``limit`` are waiting), then all are inserted with one command, and each caller learns
    whether its document was new. While a group is being inserted, the next one gathers and
    goes as soon as it is done, so that groups grow with the load (by the database's round
    trip) instead of being cut every ``window``. A lone request waits ``window`` at most."""

    def __init__(self, collection: AsyncCollection[Document], *, window: float = 0.002, limit: int = 64) -> None:
        self._collection = collection
        self._window = window
        self._limit = limit
        self._waiting: list[tuple[Document, asyncio.Future[bool]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._inserting: set[asyncio.Task[None]] = set()

    async def insert(self, document: Document) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((document, future))
        if len(self._waiting) >= self._limit:
            self._insert_waiting()
        elif self._timer is None and not self._inserting:
            self._timer = asyncio.get_running_loop().call_later(self._window, self._insert_waiting)
        return await future

    def _insert_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        group, self._waiting = self._waiting, []
        task = asyncio.create_task(self._insert(group))
        self._inserting.add(task)
        task.add_done_callback(self._inserted)

    def _inserted(self, task: asyncio.Task[None]) -> None:
        self._inserting.discard(task)
        if self._waiting and not self._inserting and self._timer is None:
            self._insert_waiting()

    async def _insert(self, group: list[tuple[Document, asyncio.Future[bool]]]) -> None:
        try:
            new = await insert_new(self._collection, [document for document, _ in group])
        except Exception as error:  # noqa: BLE001 - every caller gets the error as its own
            for _, future in group:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), is_new in zip(group, new, strict=True):
            if not future.done():  # a caller that gave up (a client gone) is not told
                future.set_result(is_new)
