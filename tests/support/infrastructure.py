"""Where the tests find Kafka and MongoDB: the services `make services` started (named by
KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL), else containers started with testcontainers when
a Docker engine answers, else a failure that says what to do."""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

HOW_TO = (
    "No Kafka/MongoDB for the integration tests: set KAFKA_BOOTSTRAP_SERVERS and MONGODB_URL "
    "(`make services` starts both on loopback and `make test` sets them), or make a Docker engine "
    "reachable for testcontainers."
)


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap_servers: str
    mongodb_url: str

    def database_url(self, database: str, port: int | None = None) -> str:
        """MONGODB_URL with another database name (each test run uses its own), and
        another port if given."""
        parts = urlsplit(self.mongodb_url)
        netloc = f"{parts.hostname}:{port}" if port else parts.netloc
        return urlunsplit((parts.scheme, netloc, "/" + database, parts.query, parts.fragment))


def _docker_engine_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # noqa: BLE001 - any failure means: no engine to use
        return False
    return True


@contextlib.contextmanager
def infrastructure() -> Iterator[Infrastructure]:
    kafka, mongodb = os.environ.get("KAFKA_BOOTSTRAP_SERVERS"), os.environ.get("MONGODB_URL")
    if kafka and mongodb:
        yield Infrastructure(kafka, mongodb)
        return
    if not _docker_engine_reachable():
        raise RuntimeError(HOW_TO)
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka_container, MongoDbContainer("mongo:8.0") as mongo:
        yield Infrastructure(kafka_container.get_bootstrap_server(), mongo.get_connection_url() + "/orders")
