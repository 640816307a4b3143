"""The read side the webhook-dispatcher publishes: attempts and dead letters, for the
ingress (``GET /orders/{id}/webhook-deliveries``, the admin API) and the CLI. Nothing here
writes; replaying goes to the dispatcher as a command on ``webhook.commands``."""

from datetime import datetime

from pymongo import DESCENDING

from schemas.api import EndpointAttemptOutcome, EndpointAttemptView, WebhookAttemptView
from schemas.storage.endpoints import WEBHOOK_ENDPOINT_HEALTH, EndpointHealthDocument
from schemas.storage.webhooks import (
    WEBHOOK_ATTEMPTS,
    WEBHOOK_DELIVERIES,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
)
from schemas.webhook_commands import DeadLetterSelector, RecoverDeliveries
from services.shared.mongo import Database, Document


def dead_letter_filter(selector: DeadLetterSelector) -> Document:
    criteria: Document = {"state": DeliveryState.DEAD.value}
    if selector.delivery_id is not None:
        criteria["_id"] = selector.delivery_id
    if selector.order_id is not None:
        criteria["orderId"] = selector.order_id
    if selector.url is not None:
        criteria["url"] = selector.url
    if selector.since is not None:
        criteria["createdAt"] = {"$gte": selector.since}
    return criteria


class DeliveryQueries:
    def __init__(self, db: Database) -> None:
        self._deliveries = db[WEBHOOK_DELIVERIES]
        self._attempts = db[WEBHOOK_ATTEMPTS]

    async def attempts(self, order_id: str, page: int, page_size: int) -> tuple[list[WebhookAttemptView], int]:
        """An order's attempts, newest first, and how many there are."""
        cursor = (
            self._attempts.find({"orderId": order_id})
            .sort([("attemptedAt", DESCENDING), ("attempt", DESCENDING)])
            .skip((page - 1) * page_size)
            .limit(page_size)
        )
        views = [WebhookAttemptView.model_validate(d) async for d in cursor]
        return views, await self._attempts.count_documents({"orderId": order_id})

    async def dead_letters(self, limit: int = 100) -> list[WebhookDelivery]:
        cursor = self._deliveries.find({"state": DeliveryState.DEAD.value}).sort("createdAt", DESCENDING).limit(limit)
        return [WebhookDelivery.model_validate(d) async for d in cursor]

    async def count_dead_letters(self, selector: DeadLetterSelector) -> int:
        return await self._deliveries.count_documents(dead_letter_filter(selector))

    async def count_recoverable(self, command: RecoverDeliveries) -> int:
        """How many deliveries ``command`` would send again now."""
        return sum([await self._deliveries.count_documents(f) for f in recoverable_filters(command).values()])

    async def endpoint_attempts(
        self, endpoint_id: str, outcome: EndpointAttemptOutcome | None, page: int, page_size: int
    ) -> tuple[list[EndpointAttemptView], int]:
        """An endpoint's attempts, newest first, and how many there are."""
        criteria: Document = {"endpointId": endpoint_id}
        if outcome is not None:
            criteria["outcome"] = "delivered" if outcome == "succeeded" else {"$in": ["failed", "aborted"]}
        cursor = (
            self._attempts.find(criteria)
            .sort([("attemptedAt", DESCENDING), ("attempt", DESCENDING)])
            .skip((page - 1) * page_size)
            .limit(page_size)
        )
        found = [WebhookAttempt.model_validate(d) async for d in cursor]
        views = [
            EndpointAttemptView(
                event_id=a.event_id,
                order_id=a.order_id,
                event_type=a.event_type or "order.status.updated",
                attempt=a.attempt,
                at=a.attempted_at,
                outcome="succeeded" if a.outcome == "delivered" else "failed",
                status_code=a.status_code,
                duration_ms=a.duration_ms,
                error=a.error,
            )
            for a in found
        ]
        return views, await self._attempts.count_documents(criteria)


def recoverable_filters(command: RecoverDeliveries) -> dict[str, Document]:
    """What a recovery sends again: the endpoint's dead letters, and its deliveries whose
    last attempt failed and that wait for a retry; since a time, or one event."""
    base: Document = {"endpointId": command.endpoint_id, "merchantId": command.merchant_id}
    if command.event_id is not None:
        base["eventId"] = command.event_id
    if command.since is not None:
        base["createdAt"] = {"$gte": command.since}
    return {
        "dead": {**base, "state": DeliveryState.DEAD.value},
        "retrying": {**base, "state": DeliveryState.PENDING.value, "attempts": {"$gt": 0}},
    }


class EndpointHealthQueries:
    """What the dispatcher knows of endpoints' health, for the ingress's views."""

    def __init__(self, db: Database) -> None:
        self._health = db[WEBHOOK_ENDPOINT_HEALTH]

    async def get(self, endpoint_id: str) -> EndpointHealthDocument | None:
        document = await self._health.find_one({"_id": endpoint_id})
        return EndpointHealthDocument.model_validate(document) if document else None

    async def disabled_at(self, endpoint_id: str) -> datetime | None:
        health = await self.get(endpoint_id)
        return health.disabled_at if health else None
