"""Request bodies no store can hold. Before the hardening issue each was answered 200 (then
dead-lettered, its checkout blocked) or 500. Shared by the ingress's unit tests (over fakes)
and the integration tests (against FerretDB)."""

from typing import Any


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


UNSTORABLE_FIELDS: dict[str, dict[str, Any]] = {
    "nested array in meta": {"meta": {"a": [[1, 2]]}},
    "meta key beginning with $": {"meta": {"$where": 1}},
    "meta key with a dot": {"meta": {"a.b": 1}},
    "NUL in checkoutId": {"checkoutId": "c\x001"},
    "NUL in idempotencyKey": {"idempotencyKey": "k\x00"},
    "NUL in paymentReference": {"paymentReference": "\x00"},
    "NUL in a meta key": {"meta": {"a\x00": 1}},
    "NUL in a meta value": {"meta": {"a": ["x\x00"]}},
    "2**63 in meta": {"meta": {"a": 2**63}},
    "10**30 in meta": {"meta": {"a": 10**30}},
    "meta 200 deep": {"meta": nested(200)},
    "meta 900 deep": {"meta": nested(900)},
    "NUL in a webhook URL": {"webhookUrls": ["https://example.com/\x00"]},
}
"""Fields that, merged into a valid body, make it unstorable."""

UNSTORABLE_JSON: dict[str, bytes] = {
    "NaN in meta": b'{"checkoutId": "c1", "meta": {"a": NaN}}',
    "Infinity in meta": b'{"checkoutId": "c1", "meta": {"a": -Infinity}}',
    "1e400 in meta": b'{"checkoutId": "c1", "meta": {"a": 1e400}}',
    "lone surrogate in meta": b'{"checkoutId": "c1", "meta": {"a": "\\ud800"}}',
    "lone surrogate in a meta key": b'{"checkoutId": "c1", "meta": {"\\udfff": 1}}',
    "lone surrogate as an unknown field": b'{"checkoutId": "c1", "\\ud800": 1}',
    "NUL in checkoutId": b'{"checkoutId": "c\\u0000"}',
    "meta 5000 deep": b'{"checkoutId": "c1", "meta": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001,
}
"""Whole bodies that JSON allows (or Python's parser does) and no store can hold."""
