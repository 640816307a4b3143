"""Idempotent order creation: same merchant, key and body -> the same order."""

import hashlib
import json
from typing import Any


def idempotency_record_id(merchant_id: str, idempotency_key: str) -> str:
    """Keys are scoped per merchant, so two merchants' equal keys never collide."""
    return hashlib.sha256(json.dumps([merchant_id, idempotency_key]).encode()).hexdigest()


def request_fingerprint(body: dict[str, Any]) -> str:
    """A hash of the request body that ignores key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
