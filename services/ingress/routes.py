"""HTTP endpoints. Each reads: authenticate, validate, check what the read view knows,
publish the command, answer."""

import json
import logging
import math
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.routing import Route

from schemas.api import (
    CancelRequest,
    CreateOrderRequest,
    IdResponse,
    OpenReturnRequest,
    OrderPage,
    OrderView,
    Pagination,
    ReplayResponse,
    ShipRequest,
    WebhookAttemptPage,
)
from schemas.base import utc_now
from schemas.checkout import Checkout
from schemas.commands import (
    CancelOrder,
    ConfirmOrder,
    DeliverOrder,
    OpenReturn,
    OrderCommand,
    OrderCreateCommand,
    PickUpReturn,
    RejectReturn,
    ShipOrder,
    SucceedReturn,
)
from schemas.order import OrderRecord, OrderStatus
from schemas.webhook_commands import DeadLetterSelector, ReplayDeadLetters
from services.domain.creation import creation_refusal, creation_status
from services.domain.idempotency import idempotency_record_id, request_fingerprint
from services.domain.lifecycle import check_order_transition, check_return_transition
from services.domain.outcomes import Refusal, RefusalKind
from services.domain.queries import QueryError, parse_order_query
from services.domain.returns import decide_return, returns_view
from services.domain.webhooks import webhook_url_problem
from services.shared.merchant_store import Principal

from .commands import BrokerUnavailable
from .gate import PRINCIPAL
from .metrics import FOUND_IN_MEMORY, READ_FROM_VIEW
from .problems import Problem, field_problem, validated_body

if TYPE_CHECKING:
    from .app import Ingress

router = APIRouter()
logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"
REFUSAL_STATUS = {RefusalKind.NOT_FOUND: 404, RefusalKind.NOT_ALLOWED: 409, RefusalKind.UNPROCESSABLE: 422}


def ingress(request: Request) -> "Ingress":
    return request.app.state.ingress  # type: ignore[no-any-return]


bearer = HTTPBearer(auto_error=False, description="An API key of one merchant (or an admin key).")


async def principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None
) -> Principal:
    """The caller, authenticated by the gate before the body was read (``gate.py``); the
    ``Security`` parameter only declares the scheme in the API document."""
    found: Principal = getattr(request.state, PRINCIPAL)
    return found


Caller = Annotated[Principal, Depends(principal)]


def _scope(caller: Principal) -> str | None:
    """The merchant whose orders the caller may see; None for an admin (all of them)."""
    return None if caller.admin else caller.merchant_id


def _refused(refusal: Refusal) -> Problem:
    errors = [{"field": refusal.field, "message": refusal.detail}] if refusal.field else None
    return Problem(REFUSAL_STATUS[refusal.kind], refusal.detail, errors=errors)


async def create_order(request: Request) -> Response:
    """``POST /orders``, the hot path: a plain Starlette route (``PLAIN_ROUTES``), which
    reads its caller and its body itself; ``describe_api`` documents it. FastAPI's
    dependency resolution, body parsing and response validation around it cost the ingress
    a third of its time on a create (cProfile; docs/design.md, "Seventh step of issue 8")."""
    caller: Principal = getattr(request.state, PRINCIPAL)
    body = await validated_body(request, CreateOrderRequest)
    app = ingress(request)
    for index, url in enumerate(body.webhook_urls or []):
        if problem := webhook_url_problem(url, allow_private=app.settings.allow_private_webhooks):
            raise field_problem(422, f"webhookUrls[{index}]", problem)

    fingerprint = request_fingerprint(body.model_dump(mode="json"))
    record_id = idempotency_record_id(caller.merchant_id, body.idempotency_key) if body.idempotency_key else None
    known = await _paid_checkout(app, caller, body.checkout_id)
    earlier = None
    if isinstance(known, Problem):
        # Refused, unless the key was used before: a retry gets the same answer, whatever
        # became of the checkout since (its own order may have claimed it by now). A
        # concurrent request with the same key may have turned the checkout into its order
        # after our read; its reservation was written before its command was published.
        earlier = await app.idempotency.get(record_id) if record_id else None
        if earlier is None:
            raise known
    paid_checkout = known if isinstance(known, Checkout) else None
    # A retry's command is published again, which completes an order whose first publish
    # failed (503). Among concurrent first requests with one key, the reservation that wins
    # answers them all. A first request writes its reservation (after reading the view if
    # this process does not remember the checkout); the key is read only on a refusal.
    reservation = earlier
    if reservation is None and record_id is not None:
        reservation = await app.idempotency.reserve(record_id, str(uuid.uuid4()), fingerprint)
    if reservation is not None and reservation.fingerprint != fingerprint:
        raise Problem(409, "this idempotencyKey was used with a different request body")
    order_id = reservation.order_id if reservation is not None else str(uuid.uuid4())

    # Built without validating again: every value is the validated body's, the caller's or
    # made here (validating the body's ``meta`` a second time cost a create 15 µs; the
    # writer validates the command it consumes).
    command = OrderCreateCommand.model_construct(
        command_id=str(uuid.uuid4()),
        order_id=order_id,
        merchant_id=caller.merchant_id,
        checkout_id=body.checkout_id,
        idempotency_key=body.idempotency_key,
        payment_reference=body.payment_reference,
        meta=body.meta or {},
        webhook_urls=body.webhook_urls or [],
        requested_at=utc_now(),
        paid_checkout=paid_checkout,
    )
    await _send(app, command, app.settings.topics.order_create)
    app.recent_checkouts.sent(body.checkout_id)
    return Response(IdResponse(id=order_id).model_dump_json(), media_type="application/json")


PLAIN_ROUTES = [Route("/orders", create_order, methods=["POST"])]
"""Routes outside FastAPI's machinery, before the router's (``create_app``)."""


async def _paid_checkout(app: "Ingress", caller: Principal, checkout_id: str) -> Checkout | Problem | None:
    """What the ingress knows of a checkout: paid and the caller's (it goes with the
    command, so the writer need not read it again), or the refusal it earns by the writer's
    own rules (``creation_status``), or nothing (not known yet: the writer waits for it).
    A paid checkout this process remembers needs no read; anything else asks the view."""
    remembered = app.recent_checkouts.paid(checkout_id, caller.merchant_id)
    if remembered is not None:
        FOUND_IN_MEMORY.inc()
        return remembered
    READ_FROM_VIEW.inc()
    found = await app.checkouts.get(checkout_id)
    if found is None:
        return None
    status = creation_status(caller.merchant_id, None, *found)
    if status is OrderStatus.CREATED:
        return found[0]
    refusal = creation_refusal(status)
    return _refused(refusal) if refusal else None


@router.get("/orders", response_model=OrderPage)
async def query_orders(request: Request, caller: Caller) -> Response:
    app = ingress(request)
    try:
        query = parse_order_query(list(request.query_params.multi_items()), admin=caller.admin)
    except QueryError as error:
        raise field_problem(400, error.parameter, error.detail) from error
    records, total = await app.orders.find(query, _scope(caller))
    # A list without returns is written straight from each record (``order_json``): building
    # each ``Order`` and its dict cost the ingress more than the page's reads.
    if query.includes_returns:
        now = utc_now()
        views = [json.dumps(_view(record, app, now, with_returns=True), separators=(",", ":")) for record in records]
    else:
        views = [record.order_json() for record in records]
    page = pagination(total, query.page, query.page_size).model_dump_json()
    return Response(f'{{"data":[{",".join(views)}],"pagination":{page}}}', media_type="application/json")


@router.get("/orders/{order_id}", response_model=OrderView)
async def get_order(request: Request, caller: Caller, order_id: str) -> JSONResponse:
    record = await _load(request, caller, order_id)
    return JSONResponse(_view(record, ingress(request), utc_now(), with_returns=True))


@router.post("/orders/{order_id}/confirm", status_code=202, response_model=IdResponse)
async def confirm_order(request: Request, caller: Caller, order_id: str) -> IdResponse:
    record = await _load(request, caller, order_id)
    return await _submit_order_command(request, record, ConfirmOrder(**_command_fields(record)))


@router.post("/orders/{order_id}/ship", status_code=202, response_model=IdResponse)
async def ship_order(request: Request, caller: Caller, order_id: str, body: ShipRequest) -> IdResponse:
    if body.tracking_url is not None and (problem := webhook_url_problem(body.tracking_url, allow_private=True)):
        raise field_problem(422, "trackingURL", problem)
    record = await _load(request, caller, order_id)
    command = ShipOrder(
        **_command_fields(record), tracking_reference=body.tracking_reference, tracking_url=body.tracking_url
    )
    return await _submit_order_command(request, record, command)


@router.post("/orders/{order_id}/deliver", status_code=202, response_model=IdResponse)
async def deliver_order(request: Request, caller: Caller, order_id: str) -> IdResponse:
    record = await _load(request, caller, order_id)
    return await _submit_order_command(request, record, DeliverOrder(**_command_fields(record)))


@router.post("/orders/{order_id}/cancel", status_code=202, response_model=IdResponse)
async def cancel_order(request: Request, caller: Caller, order_id: str, body: CancelRequest) -> IdResponse:
    record = await _load(request, caller, order_id)
    return await _submit_order_command(request, record, CancelOrder(**_command_fields(record), reason=body.reason))


@router.post("/orders/{order_id}/returns", status_code=202, response_model=IdResponse)
async def open_return(request: Request, caller: Caller, order_id: str, body: OpenReturnRequest) -> IdResponse:
    app = ingress(request)
    record = await _load(request, caller, order_id)
    if isinstance(refusal := decide_return(record, body.products, utc_now(), app.settings.return_policy), Refusal):
        raise _refused(refusal)
    command = OpenReturn(**_command_fields(record), return_id=str(uuid.uuid4()), products=body.products)
    return await _publish(request, record, command, command.return_id)


@router.post("/orders/{order_id}/returns/{return_id}/pickup", status_code=202, response_model=IdResponse)
async def pick_up_return(request: Request, caller: Caller, order_id: str, return_id: str) -> IdResponse:
    record = await _load(request, caller, order_id)
    return await _submit_return_command(request, record, PickUpReturn(**_command_fields(record), return_id=return_id))


@router.post("/orders/{order_id}/returns/{return_id}/succeed", status_code=202, response_model=IdResponse)
async def succeed_return(request: Request, caller: Caller, order_id: str, return_id: str) -> IdResponse:
    record = await _load(request, caller, order_id)
    return await _submit_return_command(request, record, SucceedReturn(**_command_fields(record), return_id=return_id))


@router.post("/orders/{order_id}/returns/{return_id}/reject", status_code=202, response_model=IdResponse)
async def reject_return(request: Request, caller: Caller, order_id: str, return_id: str) -> IdResponse:
    record = await _load(request, caller, order_id)
    return await _submit_return_command(request, record, RejectReturn(**_command_fields(record), return_id=return_id))


@router.get("/orders/{order_id}/webhook-deliveries", response_model=WebhookAttemptPage)
async def webhook_deliveries(
    request: Request,
    caller: Caller,
    order_id: str,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 25,
) -> WebhookAttemptPage:
    """Every attempt to deliver this order's webhooks, newest first."""
    await _load(request, caller, order_id)
    attempts, total = await ingress(request).deliveries.attempts(order_id, page, page_size)
    return WebhookAttemptPage(data=attempts, pagination=pagination(total, page, page_size))


@router.post("/admin/webhook-dead-letters/replay", status_code=202, response_model=ReplayResponse)
async def replay_dead_letters(request: Request, caller: Caller, body: DeadLetterSelector) -> ReplayResponse:
    """Deliver dead-lettered webhooks again (admin keys only). The dispatcher does it, on a
    command; ``replayed`` counts the dead letters that matched when the request came."""
    if not caller.admin:
        raise Problem(404, "not found")
    app = ingress(request)
    count = await app.deliveries.count_dead_letters(body)
    command = ReplayDeadLetters(command_id=str(uuid.uuid4()), selector=body, requested_at=utc_now())
    await send_webhook_command(app, command, command.command_id)
    return ReplayResponse(replayed=count)


async def send_webhook_command(app: "Ingress", command: BaseModel, key: str) -> None:
    """Publish a command for the dispatcher on ``webhook.commands``, or answer 503."""
    try:
        await app.commands.send(command, app.settings.topics.webhook_commands, key=key)
    except BrokerUnavailable as error:
        raise Problem(503, f"{error}; try again", headers={"Retry-After": RETRY_AFTER_SECONDS}) from error


async def _load(request: Request, caller: Caller, order_id: str) -> OrderRecord:
    """The caller's order, or 404. Order ids are UUIDs: anything else names no order and
    is not looked up."""
    record = await ingress(request).orders.get(order_id, _scope(caller)) if is_order_id(order_id) else None
    if record is None:
        raise Problem(404, "no such order")
    return record


def is_order_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


def _command_fields(record: OrderRecord) -> dict[str, object]:
    return {
        "command_id": str(uuid.uuid4()),
        "order_id": record.id,
        "merchant_id": record.merchant_id,
        "issued_at": utc_now(),
    }


async def _submit_order_command(request: Request, record: OrderRecord, command: OrderCommand) -> IdResponse:
    if refusal := check_order_transition(record.status, command.type):
        raise _refused(refusal)
    return await _publish(request, record, command, record.id)


async def _submit_return_command(
    request: Request, record: OrderRecord, command: PickUpReturn | SucceedReturn | RejectReturn
) -> IdResponse:
    if refusal := check_return_transition(record, command.return_id, command.type):
        raise _refused(refusal)
    return await _publish(request, record, command, command.return_id)


async def _publish(request: Request, record: OrderRecord, command: OrderCommand, answer_id: str) -> IdResponse:
    app = ingress(request)
    await _send(app, command, app.settings.topics.order_commands)
    return IdResponse(id=answer_id)


async def _send(app: "Ingress", command: OrderCreateCommand | OrderCommand, topic: str) -> None:
    """Publish a command, durably. If Kafka does not confirm it in time it may still have
    it: the command is abandoned (it will never take effect) and the answer is 503, unless
    the writer took it first, which proves it arrived."""
    try:
        await app.commands.send(command, topic, key=command.order_id)
    except BrokerUnavailable as error:
        if await app.claims.abandon(command.command_id, command.order_id, command.type, utc_now()):
            raise Problem(
                503, f"{error}; nothing was changed, try again", headers={"Retry-After": RETRY_AFTER_SECONDS}
            ) from error
        logger.info("command %s was not confirmed by Kafka but the writer has it", command.command_id)


def _view(record: OrderRecord, app: "Ingress", now: datetime, *, with_returns: bool) -> dict[str, Any]:
    """An order as GET shows it: with ``returns`` only where the contract asks for them."""
    view = record.as_order().model_dump(mode="json")
    if with_returns:
        view["returns"] = returns_view(record, now, app.settings.return_policy).model_dump(mode="json")
    return view


def pagination(total: int, page: int, page_size: int) -> Pagination:
    return Pagination(
        total_items=total, current_page=page, page_size=page_size, total_pages=math.ceil(total / page_size)
    )
