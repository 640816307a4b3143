"""The yardstick of the ingress benchmark: a bare FastAPI endpoint that validates the same
body with the same pydantic model and publishes it with aiokafka (``acks=all``, idempotent
producer), nothing else. Run as its own process, like the ingress:

    python -m tests.bench.bare_ingress PORT TOPIC
"""

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from schemas.api import CreateOrderRequest, IdResponse
from services.ingress.app import NO_FASTAPI_TELEMETRY
from services.shared.settings import Settings


def bare_app(bootstrap_servers: str, topic: str) -> FastAPI:
    producers: list[AIOKafkaProducer] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True)
        await producer.start()
        producers.append(producer)
        yield
        await producer.stop()

    # No telemetry, whatever the process configured (``ingress_cpu`` runs it beside a traced ingress).
    app = FastAPI(lifespan=lifespan, telemetry=NO_FASTAPI_TELEMETRY)

    @app.post("/orders")
    async def create(body: CreateOrderRequest) -> IdResponse:
        order_id = str(uuid.uuid4())
        await producers[0].send_and_wait(topic, body.model_dump_json().encode(), key=order_id.encode())
        return IdResponse(id=order_id)

    return app


if __name__ == "__main__":
    port, topic = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(bare_app(Settings().kafka_bootstrap_servers, topic), host="127.0.0.1", port=port, log_level="warning")
