"""``GroupInsert``: concurrent callers' documents go to the database as one bulk insert."""

import asyncio
from typing import Any, cast

import pytest
from pymongo.errors import BulkWriteError

from services.shared.mongo import DUPLICATE_KEY, GroupInsert


class RecordingCollection:
    """``insert_many`` as MongoDB does it for unique ``_id``s, recording each command."""

    def __init__(self, fail: Exception | None = None, gate: asyncio.Event | None = None) -> None:
        self.ids: set[Any] = set()
        self.commands: list[list[Any]] = []
        self.fail = fail
        self.gate = gate
        """While unset, an insert waits (a slow database)."""
        self.called = asyncio.Event()

    async def insert_many(self, documents: list[dict[str, Any]], ordered: bool) -> None:
        self.commands.append([d["_id"] for d in documents])
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise self.fail
        errors = []
        for index, document in enumerate(documents):
            if document["_id"] in self.ids:
                errors.append({"index": index, "code": DUPLICATE_KEY})
            self.ids.add(document["_id"])
        if errors:
            raise BulkWriteError({"writeErrors": errors})


def group_insert(collection: RecordingCollection, **options: Any) -> GroupInsert:
    return GroupInsert(cast("Any", collection), **options)


async def test_concurrent_inserts_are_one_command_and_each_learns_if_it_was_first() -> None:
    collection = RecordingCollection()
    inserts = group_insert(collection, window=0.05)
    results = await asyncio.gather(*(inserts.insert({"_id": n % 10}) for n in range(20)))
    assert len(collection.commands) == 1
    assert results == [True] * 10 + [False] * 10


async def test_a_full_group_goes_at_once_and_the_rest_wait_for_the_next() -> None:
    collection = RecordingCollection()
    inserts = group_insert(collection, window=60, limit=4)  # only a full group can go
    results = await asyncio.wait_for(asyncio.gather(*(inserts.insert({"_id": n}) for n in range(8))), 5)
    assert results == [True] * 8
    assert collection.commands == [[0, 1, 2, 3], [4, 5, 6, 7]]


async def test_callers_that_come_while_a_group_is_inserted_go_together_as_soon_as_it_is_done() -> None:
    slow_database = asyncio.Event()
    collection = RecordingCollection(gate=slow_database)
    inserts = group_insert(collection, window=0.001)
    first = asyncio.create_task(inserts.insert({"_id": 0}))
    await collection.called.wait()  # the first group is being inserted
    later = [asyncio.create_task(inserts.insert({"_id": n})) for n in range(1, 6)]
    await asyncio.sleep(0)  # each of them runs until it waits for its group
    assert len(inserts._waiting) == 5
    assert inserts._timer is None  # no window to cut them off: the insert in flight decides
    assert collection.commands == [[0]]
    slow_database.set()
    assert await asyncio.gather(first, *later) == [True] * 6
    assert collection.commands == [[0], [1, 2, 3, 4, 5]]


async def test_a_failed_insert_fails_every_caller_of_its_group() -> None:
    collection = RecordingCollection(fail=ConnectionError("database unreachable"))
    inserts = group_insert(collection, window=0.01)
    results = await asyncio.gather(*(inserts.insert({"_id": n}) for n in range(3)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3
    assert len(collection.commands) == 1


async def test_a_caller_that_gave_up_does_not_stop_the_others() -> None:
    collection = RecordingCollection()
    inserts = group_insert(collection, window=0.05)
    gone = asyncio.create_task(inserts.insert({"_id": "gone"}))
    staying = asyncio.create_task(inserts.insert({"_id": "staying"}))
    await asyncio.sleep(0)
    gone.cancel()
    assert await staying is True
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert collection.commands == [["gone", "staying"]]
