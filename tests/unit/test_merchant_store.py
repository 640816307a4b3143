"""Key lookups are cached briefly and boundedly: a revoked key stops working once its
cache entry runs out, and unknown keys cannot grow the cache (hardening issue, item 6)."""

from typing import Any

from services.domain.merchants import api_key_hash
from services.shared.merchant_store import API_KEYS, CACHED_KEYS, MerchantStore, Principal


class Collection:
    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.lookups = 0

    async def find_one(self, criteria: dict[str, Any], *_: Any) -> dict[str, Any] | None:
        self.lookups += 1
        return self.documents.get(criteria["_id"])


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def registry() -> tuple[MerchantStore, Collection, Clock]:
    keys, clock = Collection(), Clock()
    db: Any = {API_KEYS: keys, "merchants": Collection()}
    return MerchantStore(db, cache_seconds=5, timer=clock), keys, clock


async def test_a_revoked_key_stops_working_when_its_cache_entry_runs_out() -> None:
    store, keys, clock = registry()
    keys.documents[api_key_hash("ok_key")] = {"merchantId": "m1", "admin": False, "revokedAt": None}
    assert await store.principal("ok_key") == Principal("m1", admin=False)
    keys.documents[api_key_hash("ok_key")]["revokedAt"] = "2026-11-27T00:00:00Z"
    clock.now = 4.9
    assert await store.principal("ok_key") is not None  # cached: the documented delay
    clock.now = 5.0
    assert await store.principal("ok_key") is None


async def test_unknown_keys_cannot_grow_the_cache_without_bound() -> None:
    store, keys, _ = registry()
    assert await store.principal("bogus-0") is None
    assert await store.principal("bogus-0") is None
    assert keys.lookups == 1  # the miss is cached...
    for n in range(1, CACHED_KEYS + 1):
        await store.principal(f"bogus-{n}")
    await store.principal("bogus-0")
    assert keys.lookups == CACHED_KEYS + 2  # ...but the oldest entry made way for newer ones


class SteppingClock:
    """A clock that moves on by ``step`` every time it is read."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def test_an_entry_running_out_during_a_lookup_is_looked_up_again_not_an_error() -> None:
    """Under load an entry ran out between "is it cached?" and "give it to me", and the
    request got a 500 (KeyError). Each read of the clock here moves it on by 3 s of a 5 s
    cache, so an entry runs out while it is being looked up; both caches are shown."""
    for lookup in ("principal", "webhook_secrets"):
        keys, merchants = Collection(), Collection()
        db: Any = {API_KEYS: keys, "merchants": merchants}
        store = MerchantStore(db, cache_seconds=5, timer=SteppingClock(step=3.0))
        keys.documents[api_key_hash("ok_key")] = {"merchantId": "m1", "admin": False, "revokedAt": None}
        merchants.documents["m1"] = {"webhookSecrets": ["whsec_one"]}
        for _ in range(10):
            if lookup == "principal":
                assert await store.principal("ok_key") == Principal("m1", admin=False)
            else:
                assert await store.webhook_secrets("m1") == ["whsec_one"]
        assert keys.lookups + merchants.lookups > 1  # entries did run out on the way
