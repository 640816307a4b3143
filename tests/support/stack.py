"""A running Orders deployment for tests: its own topic prefix and database, the three
services as processes, and helpers to drive it the way its users do."""

import asyncio
import contextlib
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from schemas.base import WireModel
from schemas.checkout import CheckoutEvent, CheckoutStatus
from services.ingress.idempotency_store import IdempotencyStore
from services.order_writer.store import INDEXES as WRITER_INDEXES
from services.shared.kafka import ensure_topics, topic_partitions
from services.shared.merchant_store import INDEXES as REGISTRY_INDEXES
from services.shared.merchant_store import Credentials, MerchantStore
from services.shared.mongo import Database, ensure_indexes
from services.shared.settings import Settings
from services.webhook_dispatcher.store import INDEXES as DISPATCHER_INDEXES
from tests.support.demo import demo_checkout

from .infrastructure import Infrastructure
from .processes import SERVICES, ServiceProcess, service_env

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 20, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last value: {last!r})")


class Stack:
    """``overrides`` change the services' environment only; the test's own view of Kafka and
    MongoDB (``settings``, ``db``) always goes straight to the real ones. ``mongodb_port``
    makes the services reach MongoDB through another port (a proxy the test controls)."""

    def __init__(
        self,
        infra: Infrastructure,
        log_dir: Path,
        overrides: dict[str, str] | None = None,
        mongodb_port: int | None = None,
    ) -> None:
        run = uuid.uuid4().hex[:10]
        self.port = free_port()
        self.writer_port, self.dispatcher_port = free_port(), free_port()
        self.prefix = f"test-{run}."
        self.database = f"orders_test_{run}"
        direct = {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "MONGODB_URL": infra.database_url(self.database),
            "ORDERS_TOPIC_PREFIX": self.prefix,
        }
        services_mongodb = (
            infra.database_url(self.database, port=mongodb_port) if mongodb_port else direct["MONGODB_URL"]
        )
        self.env = service_env(
            direct
            | {
                "MONGODB_URL": services_mongodb,
                "ORDERS_HTTP_PORT": str(self.port),
                "ORDERS_WRITER_HTTP_PORT": str(self.writer_port),
                "ORDERS_DISPATCHER_HTTP_PORT": str(self.dispatcher_port),
                "ORDERS_ALLOW_PRIVATE_WEBHOOKS": "true",
                "ORDERS_CHECKOUT_GRACE_SECONDS": "1",
                "ORDERS_WEBHOOK_RETRY_SCHEDULE": "0,0.3,0.6,1",
                "ORDERS_WEBHOOK_TIMEOUT_SECONDS": "2",
                "ORDERS_WRITER_WORKERS": "3",
                "ORDERS_API_KEY_CACHE_SECONDS": "1",
                "ORDERS_REQUEST_BODY_TIMEOUT_SECONDS": "1",
                "ORDERS_METRICS_INTERVAL_SECONDS": "0.5",
                "ORDERS_LOG_LEVEL": "INFO",
            }
            | (overrides or {})
        )
        self.settings = _settings_from(service_env(direct))
        self.log_dir = log_dir
        self.processes = {name: ServiceProcess(name, self.env, log_dir) for name in SERVICES}
        self.replicas: list[ServiceProcess] = []
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.operations_urls = {
            "ingress": self.base_url,
            "writer": f"http://127.0.0.1:{self.writer_port}",
            "dispatcher": f"http://127.0.0.1:{self.dispatcher_port}",
        }
        """Where each service answers /health, /ready and /metrics."""
        self._mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.settings.mongodb_url, tz_aware=True)
        self.db: Database = self._mongo.get_default_database()
        self._producer: AIOKafkaProducer | None = None

    async def start(self, *names: str, wait: bool = True) -> None:
        """Create the run's topics, then start the services named (all by default) and,
        unless ``wait`` is False, wait until the ingress is healthy."""

        if self._producer is None:
            await ensure_topics(self.settings)
            await ensure_indexes(
                self.db, {**WRITER_INDEXES, **DISPATCHER_INDEXES, **REGISTRY_INDEXES, **IdempotencyStore.INDEXES}
            )
            self._producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all")
            await self._producer.start()
        for name in names or SERVICES:
            self.processes[name].start()
        if wait and "ingress" in (names or SERVICES):
            await self.wait_for_ingress()

    async def wait_for_ingress(self, timeout: float = 60) -> None:
        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(self.base_url + "/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            await eventually(healthy, timeout=timeout, interval=0.2)
        except AssertionError:
            raise AssertionError("ingress did not become healthy:\n" + self.processes["ingress"].log_tail()) from None

    def replica(self, name: str) -> ServiceProcess:
        """One more process of the writer or the dispatcher, in the same consumer groups,
        answering /health, /ready and /metrics on a port of its own (``operations_url``)."""
        ports = {"ORDERS_WRITER_HTTP_PORT": str(free_port()), "ORDERS_DISPATCHER_HTTP_PORT": str(free_port())}
        process = ServiceProcess(name, self.env | ports, self.log_dir, label=f"{name}-{len(self.replicas) + 2}")
        self.replicas.append(process)
        return process

    def operations_url(self, process: ServiceProcess) -> str:
        variable = {"writer": "ORDERS_WRITER_HTTP_PORT", "dispatcher": "ORDERS_DISPATCHER_HTTP_PORT"}[process.name]
        return f"http://127.0.0.1:{process.env[variable]}"

    async def close(self) -> None:
        for process in [*self.replicas, *self.processes.values()]:
            started = time.monotonic()
            process.stop()
            if (took := time.monotonic() - started) > 2:
                print(f"\n{process.name} took {took:.1f}s to stop")
        if self._producer is not None:
            await self._producer.stop()
        await self._mongo.drop_database(self.database)
        await self._mongo.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics(self.settings.topics.all())
        finally:
            await admin.close()

    # --- driving it -------------------------------------------------------------------

    async def merchant(self, *, admin: bool = False) -> Credentials:
        return await MerchantStore(self.db).create_key(f"merchant-{uuid.uuid4().hex[:8]}", admin=admin)

    async def publish_many(self, topic: str, messages: list[tuple[WireModel, str]]) -> None:
        """Publish many messages at once (a backlog), and return once Kafka has them all."""
        assert self._producer is not None
        sent = [
            await self._producer.send(
                topic, m.model_dump_json().encode(), key=k.encode(), headers=[("content-type", b"application/json")]
            )
            for m, k in messages
        ]
        await asyncio.gather(*sent)

    async def publish(self, topic: str, message: WireModel | bytes, key: str) -> None:
        assert self._producer is not None
        value = message if isinstance(message, bytes) else message.model_dump_json().encode()
        await self._producer.send_and_wait(
            topic, value, key=key.encode(), headers=[("content-type", b"application/json")]
        )

    async def topic_records(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every record on ``topic`` now: read from the beginning up to the end offsets taken
        first, so a record Kafka acknowledged before the call is certainly among them."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            partitions = [TopicPartition(topic, p) for p in await topic_partitions(admin, topic)]
        finally:
            await admin.close()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            records: list[ConsumerRecord[bytes, bytes]] = []
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    records += batch
            return records
        finally:
            await consumer.stop()

    async def commands_of(self, merchant_id: str) -> list[dict[str, Any]]:
        """The create commands on ``order.create`` for this merchant's orders (other tests
        put poison there too: what is not a JSON object is skipped)."""
        commands = []
        for record in await self.topic_records(self.settings.topics.order_create):
            with contextlib.suppress(ValueError):
                commands.append(json.loads(record.value or b"{}"))
        return [c for c in commands if isinstance(c, dict) and c.get("merchantId") == merchant_id]

    async def checkout(
        self,
        merchant_id: str,
        *,
        status: CheckoutStatus = CheckoutStatus.PAID,
        version: int = 1,
        checkout_id: str | None = None,
        amount: int | None = None,
        wait: bool = True,
    ) -> CheckoutEvent:
        """Publish a checkout event as the checkout service would, and (unless ``wait`` is
        False) wait until the writer's view has it, so the ingress's own checks see it."""
        event = demo_checkout(merchant_id, checkout_id or str(uuid.uuid4()), status, version)
        if amount is not None:
            event.checkout.amount = amount
        await self.publish(self.settings.topics.checkout_events, event, event.checkout.id)
        if not wait:
            return event

        async def stored() -> bool:
            document = await self.db.checkouts.find_one({"_id": event.checkout.id})
            return document is not None and document["version"] >= version

        await eventually(stored)
        return event

    async def create_order(self, api_key: str, checkout_id: str, **fields: Any) -> str:
        """POST /orders; the new order's id."""
        async with self.client(api_key) as client:
            response = await client.post("/orders", json={"checkoutId": checkout_id, **fields})
        assert response.status_code == 200, response.text
        order_id: str = response.json()["id"]
        return order_id

    def client(self, api_key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)

    async def order(
        self, api_key: str, order_id: str, predicate: Callable[[dict[str, Any]], bool] = bool
    ) -> dict[str, Any]:
        """GET /orders/{id} until the order exists and satisfies ``predicate``."""

        async def fetch() -> dict[str, Any] | None:
            async with self.client(api_key) as client:
                response = await client.get(f"/orders/{order_id}")
            body: dict[str, Any] = response.json()
            return body if response.status_code == 200 and predicate(body) else None

        return await eventually(fetch)


def _settings_from(env: dict[str, str]) -> Settings:
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, env, clear=True):
        return Settings()
