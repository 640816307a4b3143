"""The Prometheus metrics every process has (HTTP, consumption, consumer lag); each service
defines its own beside it (``order_writer/metrics.py``, ``webhook_dispatcher/metrics.py``).
Labels take bounded values only: route templates, topics, partitions, outcomes and
statuses; never raw paths, ids or URLs. README.md lists them all."""

import time
from collections.abc import Callable, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "orders_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "orders_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
MESSAGES_CONSUMED = Counter(
    "orders_messages_consumed",
    "Kafka messages consumed, by topic and outcome (handled, dead_lettered)",
    ["topic", "outcome"],
)
CONSUMER_LAG = Gauge(
    "orders_consumer_lag",
    "Messages not yet committed by a consumer group, by topic and partition",
    ["group", "topic", "partition"],
)
UNMATCHED_ROUTE = "<unmatched>"


def metrics_text() -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's metrics, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route a request goes to (``/orders/{order_id}``), so that the
    label has as many values as the app has routes, whatever paths clients send."""
    for route in routes:
        path = getattr(route, "path", None)  # routes that only group others have none
        if path is not None and route.matches(scope)[0] is Match.FULL:
            return str(path)
    return UNMATCHED_ROUTE


class HttpMetrics:
    """Counts every answer, the gate's refusals included, by route template and status."""

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_template(self.routes(), scope)
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
