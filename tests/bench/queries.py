"""GET /orders by query shape, on the data set ``reads.py`` seeds: for one merchant's key
each, every shape issue 9 names, pages 1 and 5, with one client and with eight, p50 and p99
beside the limits (100 ms alone, 300 ms under eight clients). The load generator is aiohttp's
client, as in the other benchmarks: httpx's costs several times the CPU a request, which on
two cores the service under test would pay for.

    make bench        (or: python -m tests.bench.reads, which seeds first)
"""

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import aiohttp

from schemas.base import wire_timestamp
from tests.support.seed import SeededMerchant

from .load import closed_loop
from .results import record

ALONE_LIMIT_MS = 100
LOADED_LIMIT_MS = 300
Params = Callable[[str], dict[str, str]]


def shapes(known: dict[str, SeededMerchant], now: datetime) -> dict[str, Params]:
    rng = random.Random(2)
    return {
        "default page": lambda m: {},
        "status=$in:success,canceled": lambda m: {"filter.status": "$in:success,canceled"},
        "amount=$gt:500000": lambda m: {"filter.amount": "$gt:500000"},
        "createdAt=$gte:7 days ago": lambda m: {"filter.createdAt": "$gte:" + wire_timestamp(now - timedelta(days=7))},
        "createdAt=$lt:83 days ago": lambda m: {"filter.createdAt": "$lt:" + wire_timestamp(now - timedelta(days=83))},
        "userId": lambda m: {"filter.userId": rng.choice(known[m].user_ids)},
        "id": lambda m: {"filter.id": rng.choice(known[m].order_ids)},
        "idempotencyKey": lambda m: {"filter.idempotencyKey": rng.choice(known[m].idempotency_keys)},
    }


async def measure(base_url: str, api_keys: dict[str, str], known: dict[str, SeededMerchant], now: datetime) -> None:
    merchants = list(api_keys)
    clients = {
        m: aiohttp.ClientSession(
            base_url=base_url,
            headers={"Authorization": f"Bearer {key}"},
            connector=aiohttp.TCPConnector(limit=16),
            timeout=aiohttp.ClientTimeout(total=120),
        )
        for m, key in api_keys.items()
    }
    try:
        for name, params in shapes(known, now).items():
            for page in (1, 5):

                async def send(i: int, params: Params = params, page: int = page) -> int:
                    merchant = merchants[i % len(merchants)]
                    try:
                        query = params(merchant) | {"page": str(page)}
                        async with clients[merchant].get("/orders", params=query) as response:
                            await response.read()
                            return response.status
                    except TimeoutError:
                        return 0  # counted as status 0

                label = f"{name} p{page}"
                # Each merchant's first page after the ingress started reads and parses its day
                # tallies (docs/design.md, "Lists at a million orders"); reported on its own
                # line, then the steady state is measured.
                first = await closed_loop(f"first {label}", send, clients=1, requests=len(merchants), max_seconds=60)
                record(
                    f"GET /orders {label} each merchant's first, max",
                    max(first.latencies_ms),
                    None,
                    "ms",
                    at_least=False,
                    p50_ms=round(first.percentile(50), 1),
                    requests=len(first.latencies_ms),
                )
                for clients_at_once, limit in ((1, ALONE_LIMIT_MS), (8, LOADED_LIMIT_MS)):
                    result = await closed_loop(
                        f"{label}, {clients_at_once} client(s)",
                        send,
                        clients=clients_at_once,
                        requests=100 * clients_at_once,
                        max_seconds=8,
                    )
                    failed = sum(n for status, n in result.statuses.items() if status != 200)
                    record(
                        f"GET /orders {label} x{clients_at_once} p99",
                        result.percentile(99),
                        limit,
                        "ms",
                        at_least=False,
                        p50_ms=round(result.percentile(50), 1),
                        requests=len(result.latencies_ms),
                        not_200=failed,
                    )
                    if failed:
                        print(f"    {failed} answers were not 200: {dict(result.statuses)}", flush=True)
    finally:
        for client in clients.values():
            await client.close()
