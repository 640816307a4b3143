"""Requests handed to an ASGI app directly, as uvicorn hands them over."""

from typing import Any


def orders_post_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The HTTP scope of a ``POST /orders`` with ``headers``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/orders",
        "raw_path": b"/orders",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
