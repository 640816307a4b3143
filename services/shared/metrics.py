"""The Prometheus metrics every process has (HTTP, consumption, consumer lag); each service
defines its own beside it (``order_writer/metrics.py``, ``webhook_dispatcher/metrics.py``).
Labels take bounded values only: route templates, topics, partitions, outcomes and
statuses; never raw paths, ids or URLs. README.md lists them all."""

import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import context, trace
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind, StatusCode
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
TRACE_HEADERS = frozenset({b"traceparent", b"tracestate"})
TRACER = trace.get_tracer(__name__)


def metrics_text() -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's metrics, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route a request goes to (``/orders/{order_id}``), so that the
    label has as many values as the app has routes, whatever paths clients send. The
    router leaves the route it chose in the scope; a request answered before routing
    (refused by a gate) is matched here."""
    chosen = getattr(scope.get("route"), "path", None)
    if chosen is not None:
        return str(chosen)
    for route in routes:
        path = getattr(route, "path", None)  # routes that only group others have none
        if path is not None and route.matches(scope)[0] is Match.FULL:
            return str(path)
    return UNMATCHED_ROUTE


class HttpMetrics:
    """Counts every answer, the gate's refusals included, by route template and status; and,
    for ``traced`` paths, makes the request's SERVER span (named ``POST /orders`` once the
    route is known, continuing a caller's ``traceparent``), current while the app answers,
    so that what the request causes (its messages, its database commands) belongs to it.

    One span with a few attributes, made where the route is known anyway: the contrib ASGI
    instrumentation, and then FastAPI's own telemetry, cost the ingress a third of its time
    per request (cProfile over the real app; ``docs/design.md``, "Seventh step")."""

    def __init__(
        self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]], traced: Callable[[str], bool] | None = None
    ) -> None:
        self.app = app
        self.routes = routes
        self.traced = traced
        self._labelled: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        started = time.perf_counter()
        status = 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        traced = self.traced is not None and self.traced(scope["path"])
        span = self._server_span(scope, method) if traced else None
        token = context.attach(trace.set_span_in_context(span)) if span is not None else None
        try:
            await self.app(scope, receive, send_and_count)
        finally:
            if token is not None:
                context.detach(token)
            route = route_template(self.routes(), scope)
            answers, durations = self._series(method, route, status)
            answers.inc()
            durations.observe(time.perf_counter() - started)
            if span is not None:
                _end(span, method, route, status)

    def _series(self, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The labelled counter and histogram of an answer (as many as routes, methods and
        statuses), looked up once each."""
        key = (method, route, status)
        series = self._labelled.get(key)
        if series is None:
            series = self._labelled[key] = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_DURATION.labels(method, route),
            )
        return series

    @staticmethod
    def _server_span(scope: Scope, method: str) -> trace.Span:
        """The request's span, in the trace of its ``traceparent`` if it has one."""
        carrier = {name.decode(): value.decode("latin-1") for name, value in scope["headers"] if name in TRACE_HEADERS}
        attributes = {"http.request.method": method, "url.path": scope["path"]}
        return TRACER.start_span(method, context=extract(carrier), kind=SpanKind.SERVER, attributes=attributes)


def _end(span: trace.Span, method: str, route: str, status: int) -> None:
    """Name the span by its route (known once the router chose one), and end it."""
    span.update_name(f"{method} {route}")
    span.set_attributes({"http.route": route, "http.response.status_code": status})
    if status >= 500:
        span.set_status(StatusCode.ERROR)
    span.end()
