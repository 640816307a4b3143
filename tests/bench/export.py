"""The NDJSON export and the reconciliation report, on the data set ``reads.py`` seeds:
every order exported over HTTP by an admin key, and one merchant's report. Prints orders/s
and the ingress's RSS growth while it streams, beside their limits. The client is aiohttp's,
whose line reader costs the machine less than httpx's.

    make bench        (or: python -m tests.bench.reads, which seeds first)
"""

import time
from datetime import timedelta

import aiohttp

from schemas.base import utc_now, wire_timestamp
from services.shared.merchant_store import Credentials
from tests.support.stack import Stack

from .common import memory_mib
from .results import record

RATE_LIMIT = 5000
RSS_LIMIT_MB = 50


async def streamed(url: str, api_key: str, pid: int, **params: str) -> tuple[int, float, float]:
    """(lines, seconds, peak RSS growth in MiB) of one streamed answer."""
    before = peak = memory_mib(pid, "VmRSS")
    lines = 0
    started = time.monotonic()
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {api_key}"}) as session,
        session.get(url, params=params, timeout=aiohttp.ClientTimeout(total=None)) as response,
    ):
        assert response.status == 200, await response.read()
        async for _ in response.content:
            lines += 1
            if lines % 5000 == 0:
                peak = max(peak, memory_mib(pid, "VmRSS"))
    return lines, time.monotonic() - started, max(peak, memory_mib(pid, "VmRSS")) - before


async def measure(stack: Stack, admin: Credentials, merchant: Credentials, orders: int) -> None:
    """Export every order with ``admin``'s key, then report ``merchant``'s last 91 days."""
    pid = stack.processes["ingress"].pid
    assert pid is not None
    lines, seconds, growth = await streamed(stack.base_url + "/orders/export", admin.api_key, pid)
    assert lines == orders, lines
    record("export orders/s (NDJSON, every order)", lines / seconds, RATE_LIMIT, "orders/s", orders=lines)
    record("ingress RSS growth during the export", growth, RSS_LIMIT_MB, "MiB", at_least=False)
    now = utc_now()
    window = {"from": wire_timestamp(now - timedelta(days=91)), "to": wire_timestamp(now + timedelta(minutes=1))}
    rows, seconds, growth = await streamed(stack.base_url + "/reports/reconciliation", merchant.api_key, pid, **window)
    record(
        "reconciliation report rows/s (CSV, one merchant)",
        (rows - 1) / seconds,
        None,
        "rows/s",
        rows=rows - 1,
        rss_growth_mib=round(growth, 1),
    )
