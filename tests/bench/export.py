"""The NDJSON export and the reconciliation report at scale: ``ORDERS`` orders of 20
merchants over 90 days, seeded in bulk in the writer's own document format
(``tests/support/seed.py``: what the writer would have written), then exported over HTTP by
an admin key (every order) and reported for one merchant. Prints orders/s and the ingress's
RSS growth while it streams, beside their limits.

    python -m tests.bench.export      (after `make services`; ORDERS_EXPORT_BENCH_ORDERS=1000000)
"""

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import httpx

from schemas.base import utc_now, wire_timestamp
from tests.support.seed import seed_orders

from .common import deployment, machine
from .results import record

ORDERS = int(os.environ.get("ORDERS_EXPORT_BENCH_ORDERS", "1000000"))
MERCHANTS = 20
RATE_LIMIT = 5000
RSS_LIMIT_MB = 50


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def streamed(url: str, api_key: str, pid: int, **params: str) -> tuple[int, float, float]:
    """(lines, seconds, peak RSS growth in MiB) of one streamed answer."""
    before = peak = rss_mib(pid)
    lines = 0
    started = time.monotonic()
    async with (
        httpx.AsyncClient(timeout=None, headers={"Authorization": f"Bearer {api_key}"}) as client,
        client.stream("GET", url, params=params) as response,
    ):
        assert response.status_code == 200, await response.aread()
        async for _ in response.aiter_lines():
            lines += 1
            if lines % 5000 == 0:
                peak = max(peak, rss_mib(pid))
    return lines, time.monotonic() - started, max(peak, rss_mib(pid)) - before


async def main() -> None:
    stack = deployment("export")
    await stack.start("ingress")
    try:
        admin = await stack.merchant(admin=True)
        merchants = [await stack.merchant() for _ in range(MERCHANTS)]
        print(f"machine: {machine()}")
        started = time.monotonic()
        await seed_orders(stack.db, [m.merchant_id for m in merchants], ORDERS, 500)
        seeded = time.monotonic() - started
        print(f"  seeded {ORDERS:,} orders in {seeded:.0f}s ({ORDERS / seeded:,.0f}/s)", flush=True)
        pid = stack.processes["ingress"].pid
        assert pid is not None
        lines, seconds, growth = await streamed(stack.base_url + "/orders/export", admin.api_key, pid)
        assert lines == ORDERS, lines
        record("export orders/s (NDJSON, every order)", lines / seconds, RATE_LIMIT, "orders/s", orders=lines)
        record("ingress RSS growth during the export", growth, RSS_LIMIT_MB, "MiB", at_least=False)
        now = utc_now()
        window = {"from": wire_timestamp(now - timedelta(days=91)), "to": wire_timestamp(now + timedelta(minutes=1))}
        rows, seconds, growth = await streamed(
            stack.base_url + "/reports/reconciliation", merchants[0].api_key, pid, **window
        )
        record(
            "reconciliation report rows/s (CSV, one merchant)",
            (rows - 1) / seconds,
            None,
            "rows/s",
            rows=rows - 1,
            rss_growth_mib=round(growth, 1),
        )
    finally:
        await stack.close()


if __name__ == "__main__":
    asyncio.run(main())
