"""Where the tests find Kafka, MongoDB and Jaeger: the services `make services` started
(named by KAFKA_BOOTSTRAP_SERVERS, MONGODB_URL, JAEGER_OTLP_ENDPOINT and JAEGER_QUERY_URL),
else containers started with testcontainers when a Docker engine answers, else a failure
that says what to do."""

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
NO_JAEGER = (
    "No Jaeger for the tracing test: set JAEGER_OTLP_ENDPOINT and JAEGER_QUERY_URL (`make services` "
    "starts Jaeger on loopback and `make test` sets them)."
)


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap_servers: str
    mongodb_url: str
    jaeger_otlp_endpoint: str | None = None
    """Where services send spans (OTLP over HTTP)."""
    jaeger_query_url: str | None = None
    """Jaeger's query API, where tests read the traces back."""

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
        yield Infrastructure(kafka, mongodb, os.environ.get("JAEGER_OTLP_ENDPOINT"), os.environ.get("JAEGER_QUERY_URL"))
        return
    if not _docker_engine_reachable():
        raise RuntimeError(HOW_TO)
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.kafka import KafkaContainer
    from testcontainers.mongodb import MongoDbContainer

    with (
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka_container,
        MongoDbContainer("mongo:8.0") as mongo,
        DockerContainer("jaegertracing/jaeger:2.13.0")
        .with_env("JAEGER_LISTEN_HOST", "0.0.0.0")
        .with_exposed_ports(4318, 16686) as jaeger,
    ):
        wait_for_logs(jaeger, "Everything is ready")
        host = jaeger.get_container_host_ip()
        yield Infrastructure(
            kafka_container.get_bootstrap_server(),
            mongo.get_connection_url() + "/orders",
            f"http://{host}:{jaeger.get_exposed_port(4318)}",
            f"http://{host}:{jaeger.get_exposed_port(16686)}",
        )
