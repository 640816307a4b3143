"""The API document as the service behaves: every error an operation can answer, as
``application/problem+json``; the query parameters of ``GET /orders``, which the handler
parses itself; the bearer scheme. A test runs schemathesis against it."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from schemas.api import CreateOrderRequest, IdResponse, ProblemDetails
from services.domain.queries import (
    ADMIN_ONLY_FIELDS,
    DEFAULT_PAGE_SIZE,
    FILTER_FIELDS,
    MAX_PAGE_SIZE,
    ORDERED_KINDS,
    SORTS,
)

from .problems import PROBLEM_JSON, TITLES

PLAIN_OPERATIONS: dict[tuple[str, str], tuple[str, type[BaseModel], type[BaseModel]]] = {
    ("post", "/orders"): ("Create Order", CreateOrderRequest, IdResponse),
}
"""Operations served by plain Starlette routes (``routes.PLAIN_ROUTES``), which FastAPI
does not document: (summary, body, answer) of each; they take the bearer scheme."""


def _errors(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """What an operation can answer besides success: 400 (a malformed request), 401 (no
    valid key) and 503 (Kafka or the database out of reach) anywhere; 408, 413 and 422
    where there is a body; 404 where an order, a checkout, a webhook endpoint or an admin route
    is named; 409 where a command meets the order's (or the key's) state, or a merchant has all
    its webhook endpoints."""
    statuses = {400, 401, 503}
    if "requestBody" in operation:
        statuses |= {408, 413, 422}
    named = ("{order_id}", "{endpoint_id}")
    if any(n in path for n in named) or path.startswith("/admin/") or (method == "post" and path == "/orders"):
        statuses.add(404)
    if method == "post" and (path in ("/orders", "/webhook-endpoints") or "{order_id}/" in path):
        statuses |= {409, 422}
    return statuses


def _order_query_parameters() -> list[dict[str, Any]]:
    equality = "`<value>` or `$eq|$ne|$in|$nin:<value>[,<value>…]`"
    filters = [
        {
            "name": f"filter.{field}",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": (f"{equality}, or `$gt|$gte|$lt|$lte:<value>`" if kind in ORDERED_KINDS else equality)
            + (" (admin keys only)" if field in ADMIN_ONLY_FIELDS else ""),
        }
        for field, kind in FILTER_FIELDS.items()
    ]
    return [
        *filters,
        {"name": "page", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1, "default": 1}},
        {
            "name": "pageSize",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
        },
        {
            "name": "sort",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(SORTS), "default": "-createdAt"},
        },
    ]


def _report_parameters() -> list[dict[str, Any]]:
    instant = {"type": "string", "format": "date-time"}
    return [
        {"name": "from", "in": "query", "required": True, "schema": instant, "description": "inclusive"},
        {"name": "to", "in": "query", "required": True, "schema": instant, "description": "exclusive; a year at most"},
        {
            "name": "merchantId",
            "in": "query",
            "required": False,
            "schema": {"type": "string"},
            "description": "admin keys only",
        },
    ]


def _schema(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """A reference to ``model``, put among the document's schemas (with those it uses)."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas.setdefault(model.__name__, schema)
    return {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}


def describe_api(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        problem = {PROBLEM_JSON: _schema(ProblemDetails, schemas)}
        for (method, path), (summary, body, answer) in PLAIN_OPERATIONS.items():
            document["paths"].setdefault(path, {})[method] = {
                "summary": summary,
                "operationId": summary.lower().replace(" ", "_"),
                "requestBody": {"required": True, "content": {"application/json": _schema(body, schemas)}},
                "responses": {
                    "200": {
                        "description": "Successful Response",
                        "content": {"application/json": _schema(answer, schemas)},
                    }
                },
                "security": [{"HTTPBearer": []}],
            }
        for path, item in document["paths"].items():
            for method, operation in item.items():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                for status in sorted(_errors(method, path, operation)):
                    responses[str(status)] = {"description": TITLES[status], "content": problem}
                if method == "get" and path == "/orders":
                    operation["parameters"] = _order_query_parameters()
                if method == "get" and path == "/orders/export":
                    operation["parameters"] = [p for p in _order_query_parameters() if p["name"].startswith("filter.")]
                    responses["406"] = {"description": TITLES[406], "content": problem}
                if method == "get" and path == "/reports/reconciliation":
                    operation["parameters"] = _report_parameters()
                    responses["406"] = {"description": TITLES[406], "content": problem}
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
