"""The merchant registry: API keys (only their hashes are stored) and webhook signing secrets.

Written only by the operator's command line (``orders keys``); the ingress reads keys to
authenticate and the dispatcher reads signing secrets. Lookups are cached in each process
for ``cache_seconds`` (``ORDERS_API_KEY_CACHE_SECONDS``, default 5): a revoked key stops
working within that time. The caches are bounded, so unknown keys cannot grow them."""

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache
from pymongo import ASCENDING

from schemas.base import utc_now
from services.domain.merchants import api_key_hash, api_key_id, new_api_key, new_webhook_secret

from .mongo import Database, Indexes

API_KEYS = "api_keys"
MERCHANTS = "merchants"
INDEXES: Indexes = {API_KEYS: [[("merchantId", ASCENDING)], [("keyId", ASCENDING)]]}
CACHED_KEYS = 10_000
"""Known and unknown keys remembered per process, at most."""


@dataclass(frozen=True)
class Principal:
    merchant_id: str
    admin: bool


@dataclass(frozen=True)
class Credentials:
    merchant_id: str
    api_key: str
    webhook_secret: str


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the key, nor its hash."""

    key_id: str
    merchant_id: str
    admin: bool
    created_at: datetime | None
    revoked_at: datetime | None


class MerchantStore:
    def __init__(self, db: Database, cache_seconds: float = 5.0, timer: Callable[[], float] = time.monotonic) -> None:
        self._keys = db[API_KEYS]
        self._merchants = db[MERCHANTS]
        self._principals: TTLCache[str, Principal | None] = TTLCache(CACHED_KEYS, cache_seconds, timer=timer)
        self._secrets: TTLCache[str, list[str]] = TTLCache(CACHED_KEYS, cache_seconds, timer=timer)

    async def create_key(self, merchant_id: str, *, admin: bool) -> Credentials:
        """A new API key for the merchant; the merchant's signing secret is created on
        first use and kept after (``rotate_secret`` adds a new one)."""
        api_key = new_api_key()
        key_hash = api_key_hash(api_key)
        await self._keys.insert_one(
            {
                "_id": key_hash,
                "keyId": api_key_id(key_hash),
                "merchantId": merchant_id,
                "admin": admin,
                "createdAt": utc_now(),
                "revokedAt": None,
            }
        )
        await self._merchants.update_one(
            {"_id": merchant_id}, {"$setOnInsert": {"webhookSecrets": [new_webhook_secret()]}}, upsert=True
        )
        return Credentials(merchant_id, api_key, (await self.webhook_secrets(merchant_id, fresh=True))[-1])

    async def list_keys(self, merchant_id: str | None = None) -> list[KeyInfo]:
        criteria = {} if merchant_id is None else {"merchantId": merchant_id}
        return [
            KeyInfo(d["keyId"], d["merchantId"], bool(d.get("admin")), d.get("createdAt"), d.get("revokedAt"))
            async for d in self._keys.find(criteria).sort("merchantId", ASCENDING)
        ]

    async def revoke(self, key_id: str) -> bool:
        """Revoke the key with this id (``orders keys list`` shows ids); False if there is
        no such key or it was revoked before."""
        result = await self._keys.update_one({"keyId": key_id, "revokedAt": None}, {"$set": {"revokedAt": utc_now()}})
        return result.modified_count == 1

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
        """Who holds this key; None for an unknown or revoked one."""
        key_hash = api_key_hash(api_key)
        with contextlib.suppress(KeyError):  # one look: an entry may run out between two
            return self._principals[key_hash]
        document = await self._keys.find_one({"_id": key_hash})
        found = (
            Principal(document["merchantId"], bool(document.get("admin")))
            if document is not None and document.get("revokedAt") is None
            else None
        )
        self._principals[key_hash] = found
        return found

    async def webhook_secrets(self, merchant_id: str, *, fresh: bool = False) -> list[str]:
        if not fresh:
            with contextlib.suppress(KeyError):
                return self._secrets[merchant_id]
        document = await self._merchants.find_one({"_id": merchant_id})
        secrets = list(document.get("webhookSecrets", [])) if document else []
        self._secrets[merchant_id] = secrets
        return secrets
