"""The read side the webhook-dispatcher publishes: attempts and dead letters, for the
ingress (``GET /orders/{id}/webhook-deliveries``, the admin API) and the CLI. Nothing here
writes; replaying goes to the dispatcher as a command on ``webhook.commands``."""

from pymongo import DESCENDING

from schemas.api import WebhookAttemptView
from schemas.storage.webhooks import WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES, DeliveryState, WebhookDelivery
from schemas.webhook_commands import DeadLetterSelector
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
