"""Reports and exports as streams of bytes: a page of rows at a time, so that memory stays
flat whatever the range. The HTTP routes and the ``orders report`` command share them."""

import json
from collections.abc import AsyncIterator

from schemas.api import CurrencyTotals
from schemas.order import OrderRecord
from services.domain.reconciliation import add_to_totals, csv_header, csv_lines, reconciliation_row

CHUNK = 500
"""Orders a chunk of the stream holds."""


async def _chunks(records: AsyncIterator[OrderRecord]) -> AsyncIterator[list[OrderRecord]]:
    chunk: list[OrderRecord] = []
    async for record in records:
        chunk.append(record)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def reconciliation_csv(records: AsyncIterator[OrderRecord]) -> AsyncIterator[bytes]:
    """The header, then a line per order; no totals row."""
    yield csv_header().encode()
    async for chunk in _chunks(records):
        yield csv_lines(reconciliation_row(r) for r in chunk).encode()


async def reconciliation_json(records: AsyncIterator[OrderRecord]) -> AsyncIterator[bytes]:
    """``{"data": [row…], "totals": {currency: …}}``, the rows streamed as they come."""
    totals: dict[str, CurrencyTotals] = {}
    separator = b""
    yield b'{"data":['
    async for chunk in _chunks(records):
        rows = [reconciliation_row(r) for r in chunk]
        for row in rows:
            add_to_totals(totals, row)
        yield separator + b",".join(row.model_dump_json().encode() for row in rows)
        separator = b","
    summary = {currency: t.model_dump(mode="json") for currency, t in sorted(totals.items())}
    yield b'],"totals":' + json.dumps(summary).encode() + b"}"


async def orders_ndjson(records: AsyncIterator[OrderRecord]) -> AsyncIterator[bytes]:
    """One order (as ``GET /orders`` shows it, without returns) per line."""
    async for chunk in _chunks(records):
        yield b"".join(r.order_json().encode() + b"\n" for r in chunk)
