"""The writer's tallies of each merchant's days (``DayTallyDocument``), kept from
``order.events`` by their own consumer group, so that list pages count and find orders
without reading all of them (docs/design.md, "Lists at a million orders")."""

import asyncio
import uuid
from collections.abc import Iterable

from pymongo import DeleteOne, UpdateOne

from schemas.base import day_of
from schemas.events import OrderEvent
from schemas.storage.orders import (
    DAY_TALLIES,
    DAY_TALLY_PARTS,
    TALLY_GENERATIONS,
    DayTallyDocument,
    DayTallyPart,
    TallyGeneration,
)
from services.domain.tallies import DayTally, OrderChange, by_day
from services.shared.mongo import Database, Document, insert_new


class DayTallies:
    """A day's tally changes by inserting its next version, never by an update: FerretDB
    v1 reads a document, changes it and writes it back with nothing to stop a concurrent
    update in between, so two writers (two partitions' consumers, or a consumer and the one
    that took its partitions over) would lose each other's counts. A unique ``_id`` is what
    both databases keep atomic: two writers building on one version collide, and the loser
    builds again on the winner's. Applying a change twice changes nothing (``DayTally``), so
    building again, or a redelivered batch, is safe."""

    def __init__(self, db: Database) -> None:
        self._tallies = db[DAY_TALLIES]
        self._parts = db[DAY_TALLY_PARTS]
        self._generations = db[TALLY_GENERATIONS]
        self._known: set[str] = set()
        """Merchants whose ``TallyGeneration`` exists."""

    async def apply_events(self, events: Iterable[OrderEvent]) -> None:
        await self.apply(OrderChange.of(event.order, event.version) for event in events)

    async def apply(self, changes: Iterable[OrderChange]) -> None:
        """Count every change in its day's tally. Per batch: two reads of each day it
        touches, one insert of the new versions' parts and one of the versions, one read of
        each day to check that no later version was there first, and one delete each of the
        versions and parts they replace (or of a loser's parts)."""
        pending = by_day(changes)
        merchants = {day_changes[0].merchant_id for day_changes in pending.values()}
        while pending:
            latest = dict(zip(pending, await asyncio.gather(*(self._latest(key) for key in pending)), strict=True))
            drafts: dict[str, tuple[DayTallyDocument, list[Document]]] = {}
            for key, day_changes in pending.items():
                seq, tally = latest[key]
                if any([tally.apply(change) for change in day_changes]):
                    drafts[key] = _version(key, day_changes[0], seq + 1, tally)
            if drafts:
                await self._parts.insert_many([part for _, parts in drafts.values() for part in parts])
            inserted = await insert_new(
                self._tallies, [_stored(DayTallyDocument.id_of(key, d.seq), d) for key, (d, _) in drafts.items()]
            )
            placed = [key for key, new in zip(drafts, inserted, strict=True) if new]
            retry = {key for key, new in zip(drafts, inserted, strict=True) if not new}
            versions: list[str] = []
            parts = [part_id for key in retry for part_id in _parts_of(drafts[key][0])]
            for key, known in zip(placed, await asyncio.gather(*(self._versions(key) for key in placed)), strict=True):
                draft = drafts[key][0]
                if max(known) > draft.seq:
                    # Inserted after a later version (ours was deleted before we wrote it
                    # again): it may lack our changes. Drop ours, build on the latest.
                    known = {draft.seq: draft}
                    retry.add(key)
                for seq, version in known.items():
                    if seq < draft.seq or key in retry:
                        versions.append(DayTallyDocument.id_of(key, seq))
                        parts += _parts_of(version)
            for collection, ids in ((self._tallies, versions), (self._parts, parts)):
                if ids:
                    await collection.bulk_write([DeleteOne({"_id": i}) for i in ids], ordered=False)
            pending = {key: pending[key] for key in retry}
        await self._renew_generations(merchants)

    async def _renew_generations(self, merchants: set[str]) -> None:
        """Tell readers the merchants' tallies may have changed: after the versions are in,
        and for every merchant of the batch, changed or not, so that a batch handed over
        again after a crash between the two renews them too. Inserted first where unknown
        (two writers upserting one new document would collide)."""
        if not merchants:
            return
        new = [m for m in merchants if m not in self._known]
        await insert_new(self._generations, [{"_id": m, "generation": ""} for m in new])
        self._known.update(new)
        await self._generations.bulk_write(
            [
                UpdateOne({"_id": m}, {"$set": TallyGeneration(generation=uuid.uuid4().hex).model_dump()})
                for m in merchants
            ],
            ordered=False,
        )

    async def _latest(self, key: str) -> tuple[int, DayTally]:
        """The day's latest version (0 and an empty tally if it has none). Its parts can be
        gone when it has just been replaced: then the newer one is read."""
        while True:
            found = [d async for d in self._tallies.find({"dayKey": key})]
            if not found:
                return 0, DayTally()
            newest = DayTallyDocument.model_validate(max(found, key=lambda d: int(d["seq"])))
            texts = {d["_id"]: d["text"] async for d in self._parts.find({"dayKey": key})}
            if newest.amounts_id in texts and newest.rows_id in texts:
                return newest.seq, DayTally.parse(newest.hours, texts[newest.amounts_id], texts[newest.rows_id])

    async def _versions(self, key: str) -> dict[int, DayTallyDocument]:
        """The day's stored versions."""
        return {int(d["seq"]): DayTallyDocument.model_validate(d) async for d in self._tallies.find({"dayKey": key})}


def _parts_of(version: DayTallyDocument) -> list[str]:
    return [version.amounts_id, version.rows_id]


def _version(key: str, change: OrderChange, seq: int, tally: DayTally) -> tuple[DayTallyDocument, list[Document]]:
    """A day's next version and its parts, under ids no other attempt uses."""
    attempt = f"{DayTallyDocument.id_of(key, seq)}|{uuid.uuid4().hex}"
    parts = {
        "amounts": DayTallyPart(merchant_id=change.merchant_id, day_key=key, part="amounts", text=tally.amounts_text()),
        "rows": DayTallyPart(merchant_id=change.merchant_id, day_key=key, part="rows", text=tally.rows_text()),
    }
    version = DayTallyDocument(
        merchant_id=change.merchant_id,
        day=day_of(change.created_at),
        day_key=key,
        seq=seq,
        hours=tally.hours_text(),
        amounts_id=f"{attempt}|amounts",
        rows_id=f"{attempt}|rows",
    )
    return version, [_stored(f"{attempt}|{name}", part) for name, part in parts.items()]


def _stored(document_id: str, model: DayTallyDocument | DayTallyPart) -> Document:
    return {"_id": document_id, **model.model_dump()}
