"""``/webhook-endpoints``: a merchant's own webhook endpoints. Another merchant's endpoint is
404 on every route (admin keys included: endpoints belong to the key's merchant)."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from schemas.api import (
    CreatedWebhookEndpoint,
    CreateWebhookEndpointRequest,
    EndpointAttemptOutcome,
    EndpointAttemptPage,
    RecoverRequest,
    ReplayResponse,
    ResendRequest,
    SecretResponse,
    UpdateWebhookEndpointRequest,
    WebhookEndpointFields,
    WebhookEndpointList,
    WebhookEndpointView,
)
from schemas.base import utc_now
from schemas.storage.endpoints import WebhookEndpointDocument
from schemas.webhook_commands import RecoverDeliveries
from services.domain.endpoints import EVENT_TYPES, is_enabled, unknown_statuses
from services.domain.webhooks import webhook_url_problem

from .endpoint_store import TooManyEndpoints
from .problems import Problem, field_problem
from .routes import Caller, ingress, is_order_id, pagination, send_webhook_command

router = APIRouter(tags=["webhook endpoints"])
FILTER_DEFAULTS: dict[str, tuple[str, ...]] = {"event_types": EVENT_TYPES, "statuses": ()}


def _checked(request: Request, body: WebhookEndpointFields) -> dict[str, Any]:
    """The fields the request sets, after the rules every hop needs (422 naming the field)."""
    fields = body.model_dump(exclude_unset=True)
    if body.url is not None and (
        problem := webhook_url_problem(body.url, allow_private=ingress(request).settings.allow_private_webhooks)
    ):
        raise field_problem(422, "url", problem)
    if body.statuses and (unknown := unknown_statuses(body.statuses)):
        raise field_problem(422, "statuses", f"not a status or parent status: {', '.join(unknown)}")
    for name, default in FILTER_DEFAULTS.items():  # null (or no event type) means all
        if name in fields and not fields[name]:
            fields[name] = list(default)
    return fields


async def _view(request: Request, endpoint: WebhookEndpointDocument) -> WebhookEndpointView:
    disabled_at = await ingress(request).endpoint_health.disabled_at(endpoint.id)
    return WebhookEndpointView.model_validate(
        endpoint.model_dump(exclude={"enabled"}) | {"enabled": is_enabled(endpoint, disabled_at)}
    )


async def _own(request: Request, caller: Caller, endpoint_id: str) -> WebhookEndpointDocument:
    """The caller's endpoint, or 404 (ids are UUIDs: anything else is not looked up)."""
    found = await ingress(request).endpoints.get(endpoint_id) if is_order_id(endpoint_id) else None
    if found is None or found.merchant_id != caller.merchant_id:
        raise Problem(404, "no such webhook endpoint")
    return found


@router.post("/webhook-endpoints", status_code=201, response_model=CreatedWebhookEndpoint)
async def create_endpoint(
    request: Request, caller: Caller, body: CreateWebhookEndpointRequest
) -> CreatedWebhookEndpoint:
    fields = {name: list(default) for name, default in FILTER_DEFAULTS.items()} | _checked(request, body)
    try:
        endpoint = await ingress(request).endpoints.create(caller.merchant_id, fields, utc_now())
    except TooManyEndpoints as error:
        raise Problem(409, str(error)) from error
    view = await _view(request, endpoint)
    return CreatedWebhookEndpoint(**view.model_dump(), secret=endpoint.secrets[-1].secret)


@router.get("/webhook-endpoints", response_model=WebhookEndpointList)
async def list_endpoints(request: Request, caller: Caller) -> WebhookEndpointList:
    endpoints = await ingress(request).endpoints.of_merchant(caller.merchant_id)
    return WebhookEndpointList(data=[await _view(request, e) for e in endpoints])


@router.get("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointView)
async def read_endpoint(request: Request, caller: Caller, endpoint_id: str) -> WebhookEndpointView:
    return await _view(request, await _own(request, caller, endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointView)
async def update_endpoint(
    request: Request, caller: Caller, endpoint_id: str, body: UpdateWebhookEndpointRequest
) -> WebhookEndpointView:
    """Changes take effect for every attempt not yet made. ``enabled: true`` enables it
    again, also after the dispatcher disabled it."""
    endpoint = await _own(request, caller, endpoint_id)
    changes = _checked(request, body)
    if changes.get("enabled") is True:
        changes["enabled_at"] = utc_now()
    if "url" in changes and changes["url"] is None:
        raise field_problem(422, "url", "cannot be removed")
    updated = await ingress(request).endpoints.update(endpoint, changes)
    return await _view(request, updated)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204)
async def delete_endpoint(request: Request, caller: Caller, endpoint_id: str) -> Response:
    """Nothing more is sent to it, deliveries already queued included."""
    endpoint = await _own(request, caller, endpoint_id)
    await ingress(request).endpoints.delete(endpoint.id, caller.merchant_id)
    return Response(status_code=204)


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=SecretResponse)
async def rotate_endpoint_secret(request: Request, caller: Caller, endpoint_id: str) -> SecretResponse:
    """A new secret; the previous one keeps signing too (a second ``v1,`` signature) for 24 h."""
    endpoint = await _own(request, caller, endpoint_id)
    return SecretResponse(secret=await ingress(request).endpoints.rotate_secret(endpoint, utc_now()))


@router.get("/webhook-endpoints/{endpoint_id}/attempts", response_model=EndpointAttemptPage)
async def endpoint_attempts(
    request: Request,
    caller: Caller,
    endpoint_id: str,
    outcome: EndpointAttemptOutcome | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 25,
) -> EndpointAttemptPage:
    endpoint = await _own(request, caller, endpoint_id)
    attempts, total = await ingress(request).deliveries.endpoint_attempts(endpoint.id, outcome, page, page_size)
    return EndpointAttemptPage(data=attempts, pagination=pagination(total, page, page_size))


async def _recover(request: Request, endpoint: WebhookEndpointDocument, **which: Any) -> ReplayResponse:
    """Ask the dispatcher to send again what failed; ``replayed`` counts what matched when
    the request came."""
    app = ingress(request)
    command = RecoverDeliveries(
        command_id=str(uuid.uuid4()),
        merchant_id=endpoint.merchant_id,
        endpoint_id=endpoint.id,
        requested_at=utc_now(),
        **which,
    )
    count = await app.deliveries.count_recoverable(command)
    if command.event_id is not None and count == 0:
        raise Problem(404, "no failed delivery of that event to this endpoint")
    await send_webhook_command(app, command, endpoint.id)
    return ReplayResponse(replayed=count)


@router.post("/webhook-endpoints/{endpoint_id}/recover", status_code=202, response_model=ReplayResponse)
async def recover_endpoint(request: Request, caller: Caller, endpoint_id: str, body: RecoverRequest) -> ReplayResponse:
    """Every event since ``since`` whose last attempt to this endpoint failed (dead letters
    included) is sent again, once."""
    return await _recover(request, await _own(request, caller, endpoint_id), since=body.since)


@router.post("/webhook-endpoints/{endpoint_id}/resend", status_code=202, response_model=ReplayResponse)
async def resend_event(request: Request, caller: Caller, endpoint_id: str, body: ResendRequest) -> ReplayResponse:
    """One event whose last attempt to this endpoint failed, sent again at once (the
    portal's "send again"). 404 if no failed delivery of that event is waiting."""
    return await _recover(request, await _own(request, caller, endpoint_id), event_id=body.event_id)
