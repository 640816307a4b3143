"""An event's id is the uuid5 of its order and version: the same text whoever computes it."""

import uuid

from schemas.events import _EVENT_NAMESPACE, event_id_for


def test_an_event_id_is_the_uuid5_of_its_order_and_version() -> None:
    for version in range(1, 400):
        order_id = str(uuid.uuid4()) if version % 2 else f"ord-{version}-é"
        expected = str(uuid.uuid5(_EVENT_NAMESPACE, f"{order_id}/{version}"))
        assert event_id_for(order_id, version) == expected
        assert uuid.UUID(expected).version == 5


def test_each_change_of_an_order_has_its_own_event_id() -> None:
    order_id = str(uuid.uuid4())
    assert len({event_id_for(order_id, version) for version in range(1, 100)}) == 99
    assert event_id_for(order_id, 1) == event_id_for(order_id, 1)
