"""``GET /reports/reconciliation`` and ``GET /orders/export``: every order of a range or a
filter, streamed (CSV, JSON or NDJSON) a day of orders at a time."""

from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from schemas.base import utc_now
from schemas.order import OrderRecord
from services.domain.queries import OrderQuery, QueryError, parse_order_query
from services.domain.reconciliation import range_problem

from .problems import Problem, field_problem
from .reports import orders_ndjson, reconciliation_csv, reconciliation_json
from .routes import Caller, ingress

router = APIRouter(tags=["reports"])

CSV, JSON, NDJSON = "text/csv", "application/json", "application/x-ndjson"
REPORT_PARAMETERS = {"from", "to", "merchantId"}
NOT_FOR_EXPORTS = {"page", "pageSize", "sort"}


def negotiated(request: Request, offered: tuple[str, ...]) -> str:
    """The first of ``offered`` the ``Accept`` header takes (the first one if it takes any);
    406 if it takes none."""
    accepted = [part.split(";")[0].strip().lower() for part in request.headers.get("accept", "*/*").split(",")]
    if not any(accepted) or "*/*" in accepted:
        return offered[0]
    for media_type in offered:
        if media_type in accepted or media_type.split("/")[0] + "/*" in accepted:
            return media_type
    raise Problem(406, f"this answer comes as {' or '.join(offered)}")


def _instant(name: str, raw: str | None) -> datetime:
    if raw is None:
        raise field_problem(400, name, "required (ISO 8601 with a time zone)")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as error:
        raise field_problem(400, name, "not an ISO 8601 date and time") from error
    if value.tzinfo is None:
        raise field_problem(400, name, "needs a time zone (2026-11-01T00:00:00Z)")
    return value


def _streamed(chunks: AsyncIterator[bytes], media_type: str, filename: str) -> StreamingResponse:
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    charset = "; charset=utf-8" if media_type == CSV else ""
    return StreamingResponse(chunks, media_type=media_type + charset, headers=disposition)


@router.get("/reports/reconciliation", responses={200: {"content": {CSV: {}, JSON: {}}}})
async def reconciliation_report(request: Request, caller: Caller) -> StreamingResponse:
    """Every order of the caller's merchant (an admin: of ``merchantId``, or of every
    merchant) created in ``[from, to)``, a year at most; CSV unless JSON is asked for."""
    params = dict(request.query_params)
    if unknown := sorted(set(params) - REPORT_PARAMETERS):
        raise field_problem(400, unknown[0], "unknown query parameter")
    media_type = negotiated(request, (CSV, JSON))
    start, end = _instant("from", params.get("from")), _instant("to", params.get("to"))
    if problem := range_problem(start, end):
        raise field_problem(400, "to", problem)
    merchant_id = params.get("merchantId")
    if merchant_id is not None and not caller.admin and merchant_id != caller.merchant_id:
        raise field_problem(400, "merchantId", "only admin keys may name another merchant")
    scope = merchant_id if caller.admin else caller.merchant_id
    records = ingress(request).orders.stream(OrderQuery(), scope, start, end)
    render: Callable[[AsyncIterator[OrderRecord]], AsyncIterator[bytes]] = (
        reconciliation_csv if media_type == CSV else reconciliation_json
    )
    extension = "csv" if media_type == CSV else "json"
    name = f"reconciliation-{start.date().isoformat()}-{end.date().isoformat()}.{extension}"
    return _streamed(render(records), media_type, name)


@router.get("/orders/export", responses={200: {"content": {NDJSON: {}}}})
async def export_orders(request: Request, caller: Caller) -> StreamingResponse:
    """Every order the filters of ``GET /orders`` match, oldest first, one per line."""
    params = list(request.query_params.multi_items())
    if misplaced := sorted({name for name, _ in params} & NOT_FOR_EXPORTS):
        raise field_problem(400, misplaced[0], "an export has every matching order, in createdAt order")
    negotiated(request, (NDJSON,))
    try:
        query = parse_order_query(params, admin=caller.admin)
    except QueryError as error:
        raise field_problem(400, error.parameter, error.detail) from error
    app = ingress(request)
    scope = None if caller.admin else caller.merchant_id
    start, end = await app.orders.earliest(query, scope), utc_now()

    async def everything() -> AsyncIterator[OrderRecord]:
        if start is not None:
            async for record in app.orders.stream(query, scope, start, end):
                yield record

    return _streamed(orders_ndjson(everything()), NDJSON, "orders.ndjson")
