"""Day tallies on the real database: writers that change one day at once lose none of each
other's changes (FerretDB v1 would, through updates), and a batch handed over again
changes nothing."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from schemas.storage.orders import DAY_TALLIES, DAY_TALLY_PARTS, DayTallyDocument
from services.domain.queries import parse_order_query
from services.domain.tallies import DayTally, OrderChange, Slot
from services.order_writer.queries import OrderQueries
from services.order_writer.store import INDEXES
from services.order_writer.tallies import ROWS_CHAIN, DayTallies
from services.shared.mongo import Database, ensure_indexes
from tests.support.infrastructure import Infrastructure

DAY = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
async def databases(infra: Infrastructure) -> AsyncIterator[list[Database]]:
    """Two clients of one fresh database, as two writer processes would have."""
    url = infra.database_url(f"orders_test_tallies_{uuid.uuid4().hex[:10]}")
    clients: list[AsyncMongoClient[dict[str, Any]]] = [AsyncMongoClient(url, tz_aware=True) for _ in range(2)]
    dbs = [client.get_default_database() for client in clients]
    await ensure_indexes(dbs[0], INDEXES)
    try:
        yield dbs
    finally:
        await clients[0].drop_database(dbs[0].name)
        for client in clients:
            await client.close()


def change(order: int, version: int, status: str) -> OrderChange:
    return OrderChange(f"o{order}", "m1", version, status, order * 100, DAY + timedelta(minutes=order))


async def stored(db: Database) -> tuple[list[int], DayTally]:
    """The versions of the day stored now, and the latest one's tally; no parts are left
    but the latest version's."""
    found = [d async for d in db[DAY_TALLIES].find({"dayKey": "m1|2026-11-28"})]
    newest = max(found, key=lambda d: d["seq"])
    parts = {d["_id"]: d["text"] async for d in db[DAY_TALLY_PARTS].find({"dayKey": "m1|2026-11-28"})}
    rows = newest["rowsIds"].split()
    assert parts.keys() == {newest["amountsId"], *rows}
    tally = DayTally.parse(newest["hours"], parts[newest["amountsId"]], *(parts[part] for part in rows))
    return sorted(d["seq"] for d in found), tally


async def test_writers_changing_one_day_at_once_lose_nothing_and_a_repeated_batch_changes_nothing(
    databases: list[Database],
) -> None:
    writers = [DayTallies(db) for db in databases]
    rounds = 15
    # Each writer creates its own orders and moves them on, batch by batch, all on one day.
    batches = [
        [[change(w * 100 + n, 1, "pending.created") for n in range(r * 4, r * 4 + 4)] for r in range(rounds)]
        for w in range(2)
    ]
    for w in range(2):
        batches[w] += [[change(w * 100 + n, 2, "success.delivered") for n in range(0, rounds * 4, 3)]]

    async def run(writer: DayTallies, own: list[list[OrderChange]]) -> None:
        for batch in own:
            await writer.apply(batch)

    await asyncio.gather(*(run(writer, own) for writer, own in zip(writers, batches, strict=True)))
    seqs, tally = await stored(databases[0])
    delivered = {f"o{w * 100 + n}" for w in range(2) for n in range(0, rounds * 4, 3)}
    assert len(tally.rows) == 2 * rounds * 4
    assert {order for order, (_, status) in tally.rows.items() if status == "success.delivered"} == delivered
    assert sum(hour.count() for hour in tally.hours.values()) == 2 * rounds * 4
    assert sum(hour.count(frozenset({"success.delivered"})) for hour in tally.hours.values()) == len(delivered)
    assert sorted(a for hour in tally.hours.values() for a in hour.amounts) == sorted(
        (w * 100 + n) * 100 for w in range(2) for n in range(rounds * 4)
    )
    assert len(seqs) == 1  # the versions each one replaced are gone

    await writers[1].apply(batches[0][3] + batches[1][-1])
    assert await stored(databases[0]) == (seqs, tally)


async def test_a_batch_writes_the_rows_it_changed_and_every_rows_chain_versions_all_of_them(
    databases: list[Database],
) -> None:
    """A busy day holds tens of thousands of rows: rewriting them all with every batch made
    the tallies the write path's largest cost. Read back through another writer (which
    built none of it), the tally is the same whichever parts hold it."""
    writer = DayTallies(databases[0])
    batches = [[change(b * 10 + n, 1, "pending.created") for n in range(10)] for b in range(ROWS_CHAIN + 1)]
    for b, batch in enumerate(batches[:3]):
        await writer.apply(batch)
        newest = await databases[0][DAY_TALLIES].find_one({"dayKey": "m1|2026-11-28"})
        assert newest is not None
        assert len(newest["rowsIds"].split()) == b + 1
    parts = [d async for d in databases[0][DAY_TALLY_PARTS].find({"dayKey": "m1|2026-11-28", "part": "rows"})]
    assert sorted(len(json.loads(p["text"])) for p in parts) == [10, 10, 10]
    for batch in batches[3:]:
        await writer.apply(batch)
    _, tally = await stored(databases[0])
    newest = await databases[0][DAY_TALLIES].find_one({"dayKey": "m1|2026-11-28"})
    assert newest is not None
    assert len(newest["rowsIds"].split()) == 1
    assert len(tally.rows) == 10 * (ROWS_CHAIN + 1)
    _, read_back = await DayTallies(databases[1])._latest("m1|2026-11-28")
    assert read_back == tally
    await DayTallies(databases[1]).apply(batches[0] + [change(5, 2, "success.delivered")])
    _, tally = await stored(databases[0])
    assert tally.rows["o5"] == (2, "success.delivered")
    assert len(tally.rows) == 10 * (ROWS_CHAIN + 1)


async def test_a_writer_that_built_on_a_replaced_version_builds_again_on_the_latest(
    databases: list[Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that read version 1, then stalled while others wrote versions 2 and 3 (and
    deleted 1 and 2), can insert its version 2 (that ``_id`` is free again): it must see
    the later version and apply its change on top of that one, not leave it in a version
    no reader takes."""
    first, other = (DayTallies(db) for db in databases)
    await first.apply([change(1, 1, "pending.created")])
    stale = await first._latest("m1|2026-11-28")
    await first.apply([change(2, 1, "pending.created")])
    await first.apply([change(3, 1, "pending.created")])
    assert (await stored(databases[0]))[0] == [3]

    latest = other._latest
    views = iter([stale])

    async def stalled(key: str) -> tuple[DayTallyDocument | None, DayTally]:
        return next(views, None) or await latest(key)

    monkeypatch.setattr(other, "_latest", stalled)
    await other.apply([change(4, 1, "pending.created")])
    seqs, tally = await stored(databases[0])
    assert seqs == [4]
    assert sorted(tally.rows) == ["o1", "o2", "o3", "o4"]


async def test_a_reader_reads_the_tallies_again_only_once_they_changed(
    databases: list[Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, reader_db = DayTallies(databases[0]), databases[1]
    await writer.apply([change(n, 1, "pending.created") for n in range(1, 6)])
    reader = OrderQueries(reader_db)
    read_days = reader._read_days
    reads: list[str] = []

    async def counted(merchant_id: str, *, with_amounts: bool) -> list[Slot]:
        reads.append(merchant_id)
        return await read_days(merchant_id, with_amounts=with_amounts)

    monkeypatch.setattr(reader, "_read_days", counted)
    delivered = parse_order_query([("filter.status", "success")], admin=False)
    assert (await reader.find(delivered, "m1"))[1] == 0
    assert (await reader.find(delivered, "m1"))[1] == 0
    assert len(reads) == 1  # the second page used what the first read

    await writer.apply([change(3, 2, "success.delivered")])
    assert (await reader.find(delivered, "m1"))[1] == 1
    assert len(reads) == 2
    await writer.apply([change(3, 2, "success.delivered")])  # handed over again: renews, changes nothing
    assert (await reader.find(delivered, "m1"))[1] == 1
