"""The read side of merchants' webhook endpoints, which the ingress publishes for the
webhook-dispatcher: a merchant's endpoints, and one endpoint."""

from schemas.storage.endpoints import WEBHOOK_ENDPOINTS, WebhookEndpointDocument
from services.shared.mongo import Database, Document


def endpoint_from(document: Document) -> WebhookEndpointDocument:
    return WebhookEndpointDocument.model_validate({k: v for k, v in document.items() if k not in ("_id", "slot")})


class EndpointQueries:
    def __init__(self, db: Database) -> None:
        self._endpoints = db[WEBHOOK_ENDPOINTS]

    async def of_merchant(self, merchant_id: str) -> list[WebhookEndpointDocument]:
        """A merchant's endpoints, oldest first."""
        cursor = self._endpoints.find({"merchantId": merchant_id})
        return sorted([endpoint_from(d) async for d in cursor], key=lambda e: (e.created_at, e.id))

    async def get(self, endpoint_id: str) -> WebhookEndpointDocument | None:
        document = await self._endpoints.find_one({"_id": endpoint_id})
        return endpoint_from(document) if document else None
