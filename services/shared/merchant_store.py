"""Merchants, their API keys (only hashes are stored) and webhook signing secrets."""

import time
from dataclasses import dataclass

from services.domain.merchants import api_key_hash, new_api_key, new_webhook_secret

from .mongo import API_KEYS, MERCHANTS, Database


@dataclass(frozen=True)
class Principal:
    merchant_id: str
    admin: bool


@dataclass(frozen=True)
class Credentials:
    merchant_id: str
    api_key: str
    webhook_secret: str


class MerchantStore:
    """Keys are looked up on every request, so lookups are cached for a short while."""

    def __init__(self, db: Database, cache_seconds: float = 30.0) -> None:
        self._keys = db[API_KEYS]
        self._merchants = db[MERCHANTS]
        self._cache_seconds = cache_seconds
        self._principals: dict[str, tuple[float, Principal | None]] = {}
        self._secrets: dict[str, tuple[float, list[str]]] = {}

    async def create_key(self, merchant_id: str, *, admin: bool) -> Credentials:
        """A new API key for the merchant; the merchant's signing secret is created on
        first use and kept after (``rotate_secret`` adds a new one)."""
        api_key = new_api_key()
        await self._keys.insert_one({"_id": api_key_hash(api_key), "merchantId": merchant_id, "admin": admin})
        await self._merchants.update_one(
            {"_id": merchant_id}, {"$setOnInsert": {"webhookSecrets": [new_webhook_secret()]}}, upsert=True
        )
        return Credentials(merchant_id, api_key, (await self.webhook_secrets(merchant_id, fresh=True))[-1])

    async def rotate_secret(self, merchant_id: str) -> str:
        """Add a new signing secret and keep the newest previous one: every webhook carries a
        signature of each until the next rotation drops the older."""
        secret = new_webhook_secret()
        secrets = (await self.webhook_secrets(merchant_id, fresh=True))[-1:]
        await self._merchants.update_one(
            {"_id": merchant_id}, {"$set": {"webhookSecrets": [*secrets, secret]}}, upsert=True
        )
        self._secrets.pop(merchant_id, None)
        return secret

    async def principal(self, api_key: str) -> Principal | None:
        key_hash = api_key_hash(api_key)
        cached = self._principals.get(key_hash)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        document = await self._keys.find_one({"_id": key_hash})
        found = Principal(document["merchantId"], bool(document.get("admin"))) if document else None
        self._principals[key_hash] = (time.monotonic() + self._cache_seconds, found)
        return found

    async def webhook_secrets(self, merchant_id: str, *, fresh: bool = False) -> list[str]:
        cached = self._secrets.get(merchant_id)
        if cached and cached[0] > time.monotonic() and not fresh:
            return cached[1]
        document = await self._merchants.find_one({"_id": merchant_id})
        secrets = list(document.get("webhookSecrets", [])) if document else []
        self._secrets[merchant_id] = (time.monotonic() + self._cache_seconds, secrets)
        return secrets
