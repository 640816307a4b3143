"""The writer's tallies of each merchant's days (``DayTallyDocument``), kept from
``order.events`` by their own consumer group, so that list pages count and find orders
without reading all of them (docs/design.md, "Lists at a million orders")."""

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cachetools import LRUCache
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

ROWS_CHAIN = 16
"""Rows parts a version names at most: the next writes every row again, in one part."""
BUILT_DAYS = 32
"""Days whose latest tally this writer built and keeps, so that its next batch of a day
reads no part of it (a busy day's rows are megabytes)."""


@dataclass
class Draft:
    """A day's next version, and the ids of the parts it adds (the others it names were
    its base's)."""

    version: DayTallyDocument
    parts: list[Document]

    @property
    def new_parts(self) -> list[str]:
        return [part["_id"] for part in self.parts]


class DayTallies:
    """A day's tally changes by inserting its next version, never by an update: FerretDB
    v1 reads a document, changes it and writes it back with nothing to stop a concurrent
    update in between, so two writers (two partitions' consumers, or a consumer and the one
    that took its partitions over) would lose each other's counts. A unique ``_id`` is what
    both databases keep atomic: two writers building on one version collide, and the loser
    builds again on the winner's. Applying a change twice changes nothing (``DayTally``), so
    building again, or a redelivered batch, is safe.

    A version adds the rows its batch changed as a part of their own and names its base's
    rows parts too (``DayTallyDocument.rows_ids``), so that what a batch writes grows with
    the batch, not with the day; every ``ROWS_CHAIN`` versions, one writes all rows again."""

    def __init__(self, db: Database) -> None:
        self._tallies = db[DAY_TALLIES]
        self._parts = db[DAY_TALLY_PARTS]
        self._generations = db[TALLY_GENERATIONS]
        self._known: set[str] = set()
        """Merchants whose ``TallyGeneration`` exists."""
        self._built: LRUCache[str, tuple[str, DayTally]] = LRUCache(BUILT_DAYS)
        """Per day: the amounts part id of the version this writer placed last, and its tally."""

    async def apply_events(self, events: Iterable[OrderEvent]) -> None:
        await self.apply(OrderChange.of(event.order, event.version) for event in events)

    async def apply(self, changes: Iterable[OrderChange]) -> None:
        """Count every change in its day's tally. Per batch: a read of each day it touches
        (two when another writer placed the day's latest version), one insert of the new
        versions' parts and one of the versions, one read of each day to check that no later
        version was there first, and one delete each of the versions and parts they replace
        (or of a loser's parts)."""
        pending = by_day(changes)
        merchants = {day_changes[0].merchant_id for day_changes in pending.values()}
        while pending:
            latest = dict(zip(pending, await asyncio.gather(*(self._latest(key) for key in pending)), strict=True))
            drafts: dict[str, Draft] = {}
            built: dict[str, DayTally] = {}
            for key, day_changes in pending.items():
                base, tally = latest[key]
                changed = [change.order_id for change in day_changes if tally.apply(change)]
                if changed:
                    drafts[key], built[key] = _draft(key, day_changes[0], base, tally, changed), tally
                elif base is not None:
                    self._built[key] = (base.amounts_id, tally)
            if drafts:
                await self._parts.insert_many([part for draft in drafts.values() for part in draft.parts])
            inserted = await insert_new(
                self._tallies,
                [_stored(DayTallyDocument.id_of(key, d.version.seq), d.version) for key, d in drafts.items()],
            )
            placed = [key for key, new in zip(drafts, inserted, strict=True) if new]
            retry = {key for key, new in zip(drafts, inserted, strict=True) if not new}
            versions: list[str] = []
            parts = [part_id for key in retry for part_id in drafts[key].new_parts]
            for key, known in zip(placed, await asyncio.gather(*(self._versions(key) for key in placed)), strict=True):
                draft = drafts[key].version
                if max(known) > draft.seq:
                    # Inserted after a later version (ours was deleted before we wrote it
                    # again): it may lack our changes. Drop ours, build on the latest.
                    retry.add(key)
                    versions.append(DayTallyDocument.id_of(key, draft.seq))
                    parts += drafts[key].new_parts
                    continue
                kept = set(_parts_of(draft))
                for seq, version in known.items():
                    if seq < draft.seq:
                        versions.append(DayTallyDocument.id_of(key, seq))
                        parts += [part for part in _parts_of(version) if part not in kept]
                self._built[key] = (draft.amounts_id, built[key])
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

    async def _latest(self, key: str) -> tuple[DayTallyDocument | None, DayTally]:
        """The day's latest version and its tally (None and an empty tally if it has none):
        the one this writer built, if it is still the latest, else read from its parts.
        Those can be gone when it has just been replaced: then the newer one is read. The
        tally is the caller's to change."""
        while True:
            found = [d async for d in self._tallies.find({"dayKey": key})]
            if not found:
                return None, DayTally()
            newest = DayTallyDocument.model_validate(max(found, key=lambda d: int(d["seq"])))
            built = self._built.pop(key, None)
            if built is not None and built[0] == newest.amounts_id:
                return newest, built[1]
            texts = {d["_id"]: d["text"] async for d in self._parts.find({"dayKey": key})}
            if all(part in texts for part in _parts_of(newest)):
                rows = [texts[part] for part in newest.rows_parts()]
                return newest, DayTally.parse(newest.hours, texts[newest.amounts_id], *rows)

    async def _versions(self, key: str) -> dict[int, DayTallyDocument]:
        """The day's stored versions."""
        return {int(d["seq"]): DayTallyDocument.model_validate(d) async for d in self._tallies.find({"dayKey": key})}


def _parts_of(version: DayTallyDocument) -> list[str]:
    return [version.amounts_id, *version.rows_parts()]


def _draft(key: str, change: OrderChange, base: DayTallyDocument | None, tally: DayTally, changed: list[str]) -> Draft:
    """A day's next version on ``base``, with its amounts and the rows ``changed`` (all rows
    once the base names ``ROWS_CHAIN`` rows parts), under ids no other attempt uses."""
    seq = 1 if base is None else base.seq + 1
    chain = [] if base is None else base.rows_parts()
    attempt = f"{DayTallyDocument.id_of(key, seq)}|{uuid.uuid4().hex}"
    if len(chain) >= ROWS_CHAIN:
        chain, rows_text = [], tally.rows_text()
    else:
        rows_text = tally.rows_text(changed)
    texts = {"amounts": tally.amounts_text(), "rows": rows_text}
    parts = [
        _stored(f"{attempt}|{kind}", DayTallyPart(merchant_id=change.merchant_id, day_key=key, part=kind, text=text))
        for kind, text in texts.items()
    ]
    version = DayTallyDocument(
        merchant_id=change.merchant_id,
        day=day_of(change.created_at),
        day_key=key,
        seq=seq,
        hours=tally.hours_text(),
        amounts_id=f"{attempt}|amounts",
        rows_ids=" ".join([*chain, f"{attempt}|rows"]),
    )
    return Draft(version, parts)


def _stored(document_id: str, model: DayTallyDocument | DayTallyPart) -> Document:
    return {"_id": document_id, **model.model_dump()}
