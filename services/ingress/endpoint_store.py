"""Merchants' webhook endpoints: the ingress writes them (merchants change them through the
API and expect the answer to hold), the webhook-dispatcher reads them (``endpoint_queries``)."""

import uuid
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from schemas.storage.endpoints import WEBHOOK_ENDPOINTS, EndpointSecret, WebhookEndpointDocument
from services.domain.endpoints import MAX_ENDPOINTS_PER_MERCHANT, rotated
from services.domain.merchants import new_webhook_secret
from services.shared.mongo import Database, Indexes

from .endpoint_queries import EndpointQueries, endpoint_from

INDEXES: Indexes = {WEBHOOK_ENDPOINTS: [[("merchantId", ASCENDING)]]}
UNIQUE_SLOT = [("merchantId", ASCENDING), ("slot", ASCENDING)]


class TooManyEndpoints(Exception):
    pass


class EndpointStore(EndpointQueries):
    """Each endpoint takes one of its merchant's ``MAX_ENDPOINTS_PER_MERCHANT`` slots (unique
    per merchant), so concurrent creations never exceed the limit."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self._db = db

    async def prepare(self) -> None:
        await self._db[WEBHOOK_ENDPOINTS].create_index(UNIQUE_SLOT, unique=True)

    async def create(self, merchant_id: str, fields: dict[str, Any], now: datetime) -> WebhookEndpointDocument:
        endpoint = WebhookEndpointDocument.model_validate(
            {
                **fields,
                "id": str(uuid.uuid4()),
                "merchant_id": merchant_id,
                "enabled": True,
                "enabled_at": now,
                "created_at": now,
                "secrets": [EndpointSecret(secret=new_webhook_secret())],
            }
        )
        document = {"_id": endpoint.id, **endpoint.model_dump(mode="python")}
        while True:
            used = {d["slot"] async for d in self._endpoints.find({"merchantId": merchant_id}, {"slot": 1})}
            free = [slot for slot in range(MAX_ENDPOINTS_PER_MERCHANT) if slot not in used]
            if not free:
                raise TooManyEndpoints(f"a merchant has at most {MAX_ENDPOINTS_PER_MERCHANT} webhook endpoints")
            try:
                await self._endpoints.insert_one({**document, "slot": free[0]})
                return endpoint
            except DuplicateKeyError:
                continue  # another creation took that slot first: look again

    async def update(self, endpoint: WebhookEndpointDocument, changes: dict[str, Any]) -> WebhookEndpointDocument:
        changed = endpoint.model_copy(update=changes)
        fields = {k: v for k, v in changed.model_dump(mode="python").items() if k not in ("id", "secrets")}
        document = await self._endpoints.find_one_and_update(
            {"_id": endpoint.id, "merchantId": endpoint.merchant_id},
            {"$set": fields},
            return_document=ReturnDocument.AFTER,
        )
        return endpoint_from(document) if document else changed

    async def delete(self, endpoint_id: str, merchant_id: str) -> bool:
        result = await self._endpoints.delete_one({"_id": endpoint_id, "merchantId": merchant_id})
        return result.deleted_count == 1

    async def rotate_secret(self, endpoint: WebhookEndpointDocument, now: datetime) -> str:
        secret = new_webhook_secret()
        secrets = rotated(endpoint.secrets, secret, now)
        await self._endpoints.update_one(
            {"_id": endpoint.id, "merchantId": endpoint.merchant_id},
            {"$set": {"secrets": [s.model_dump(mode="python") for s in secrets]}},
        )
        return secret
