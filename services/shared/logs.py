"""One log format for every process: a line each, with the service's name; with
``ORDERS_LOG_FORMAT=json``, one JSON object a line carrying ``orderId``, ``commandId`` and
``traceId`` where known (structlog renders the standard library's records)."""

import contextlib
import logging
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import structlog

from .tracing import current_trace_id


def _trace_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if "traceId" not in event and (trace_id := current_trace_id()):
        event["traceId"] = trace_id
    return event


def configure_logging(service: str, level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[
                    structlog.contextvars.merge_contextvars,
                    structlog.stdlib.add_log_level,
                    structlog.stdlib.add_logger_name,
                    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
                    _trace_id,
                ],
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    lambda _, __, event: {"service": service, **event},
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
            )
        )
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # FastStream gives its logger a handler of its own when imported; its lines go through
    # ours instead, in the same format as every other line.
    import faststream  # noqa: F401

    own = logging.getLogger("faststream")
    own.handlers.clear()
    own.propagate = True
    # aiokafka logs every failed reconnect at ERROR; our own retry lines say it once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL if level.upper() != "DEBUG" else logging.DEBUG)
    logging.getLogger("pymongo").setLevel(logging.WARNING)


@contextlib.contextmanager
def logged_with(**fields: str | None) -> Iterator[None]:
    """Lines logged inside the block carry ``fields`` (in the JSON format); None is left out."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in fields.items() if v is not None}):
        yield
