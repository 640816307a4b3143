"""Merchant credentials: API keys (stored only as hashes) and webhook signing secrets."""

import base64
import hashlib
import secrets

from .webhooks import SECRET_PREFIX

API_KEY_PREFIX = "ok_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def api_key_hash(api_key: str) -> str:
    """Keys carry 256 random bits, so a plain SHA-256 is enough to make the stored value
    useless to whoever reads the database (no salt or slow hash is needed)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def api_key_id(key_hash: str) -> str:
    """A short name of a key that tells nothing of it (a prefix of its hash's hash): what
    ``orders keys list`` shows and ``orders keys revoke`` takes."""
    return "key_" + hashlib.sha256(key_hash.encode()).hexdigest()[:16]
