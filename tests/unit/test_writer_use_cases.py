"""The order-writer's use cases (create an order, apply a command, decide waiting creates)
against in-memory fakes: what is stored, what is published, and what is not."""

from collections.abc import Sequence
from datetime import timedelta

import pytest

from schemas.checkout import CheckoutEvent, CheckoutStatus
from schemas.commands import CancelOrder, ConfirmOrder, OrderCreateCommand, RepublishOutbox, ShipOrder
from schemas.events import OrderEvent
from schemas.order import OrderStatus
from services.order_writer.service import OrderWriter, split_into_lanes
from tests.factories import NOW, POLICY, checkout, create_command
from tests.fakes import (
    FakeCheckouts,
    FakeCommandLog,
    FakeCreationMarks,
    FakeIntakeClock,
    FakeOrders,
    FakeParked,
    PublishedEvents,
)

GRACE = timedelta(seconds=30)


class Writer:
    """An OrderWriter over fakes, with the fakes at hand."""

    def __init__(self, *known: CheckoutStatus) -> None:
        self.orders = FakeOrders()
        self.checkouts = FakeCheckouts(*(checkout(status) for status in known))
        self.parked = FakeParked()
        self.log = FakeCommandLog()
        self.published = PublishedEvents()
        self.intake = FakeIntakeClock()
        self.marks = FakeCreationMarks()
        self.republish_requests: list[str] = []
        self.use_cases = OrderWriter(
            self.orders,
            self.checkouts,
            self.parked,
            self.log,
            self.published,
            self.marks,
            self.intake,
            self._request_republish,
            checkout_grace=GRACE,
            return_policy=POLICY,
        )

    async def _request_republish(self, order_ids: Sequence[str]) -> None:
        self.republish_requests += order_ids

    def status(self, order_id: str = "o1") -> OrderStatus:
        return self.orders.stored[order_id][0].status


async def test_a_paid_checkout_becomes_an_order_announced_once() -> None:
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    assert writer.status() is OrderStatus.CREATED
    assert [(e.order_id, e.version, e.order.status) for e in writer.published.events] == [
        ("o1", 1, OrderStatus.CREATED)
    ]
    # Not cleared (an update outside the order's turn among its commands): marked published
    assert [e.order_id for e in writer.orders.stored["o1"][2]] == ["o1"]
    assert writer.marks.marks == {"o1"}
    assert writer.log.outcomes["cmd-create"] == ("taken", "")  # its outcome is the order itself


async def test_a_redelivered_create_makes_no_second_order_or_event() -> None:
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    await writer.use_cases.create_orders([create_command()])
    assert len(writer.orders.stored) == 1
    assert len(writer.published.events) == 1


async def test_a_second_order_for_one_checkout_fails_as_already_ordered() -> None:
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    await writer.use_cases.create_orders([create_command(command_id="cmd-2", order_id="o2", idempotency_key="k2")])
    assert (writer.status("o1"), writer.status("o2")) == (OrderStatus.CREATED, OrderStatus.CHECKOUT_ALREADY_ORDERED)


async def test_a_command_the_ingress_abandoned_has_no_effect() -> None:
    writer = Writer(CheckoutStatus.PAID)
    assert await writer.log.abandon("cmd-create", "o1", "order.create", NOW)
    await writer.use_cases.create_orders([create_command()])
    assert writer.orders.stored == {}
    assert writer.published.events == []


def paid_create(number: int, checkout_id: str | None = None) -> OrderCreateCommand:
    """The n-th create of a batch, carrying the paid checkout the ingress saw."""
    paid = checkout(CheckoutStatus.PAID).model_copy(update={"id": checkout_id or f"co{number}"})
    return create_command(
        command_id=f"cmd-{number}",
        order_id=f"o{number}",
        checkout_id=paid.id,
        idempotency_key=f"k{number}",
        paid_checkout=paid,
    )


def writer_knowing(*checkout_ids: str) -> Writer:
    writer = Writer()
    for checkout_id in checkout_ids:
        writer.checkouts.stored[checkout_id] = checkout(CheckoutStatus.PAID).model_copy(update={"id": checkout_id})
    return writer


async def test_a_batch_of_creates_with_paid_checkouts_is_stored_and_announced_without_reading_the_view() -> None:
    writer = writer_knowing("co1", "co2", "co3")
    await writer.use_cases.create_orders([paid_create(n) for n in (1, 2, 3)])
    assert [writer.status(f"o{n}") for n in (1, 2, 3)] == [OrderStatus.CREATED] * 3
    assert sorted(e.order_id for e in writer.published.events) == ["o1", "o2", "o3"]
    # Published with the batch, not cleared (a redelivery of the batch sends them again)
    assert sorted((i, [e.order_id for e in outbox]) for i, (_, _, outbox) in writer.orders.stored.items()) == [
        ("o1", ["o1"]),
        ("o2", ["o2"]),
        ("o3", ["o3"]),
    ]
    assert writer.checkouts.claims["co2"] == "o2"
    assert writer.checkouts.reads == 0


async def test_a_redelivered_batch_makes_no_second_order_and_sends_its_events_again_once() -> None:
    """Kafka hands a batch over again when its handling did not finish: unless its events
    are marked published, whether they went out is unknown, so they go again (same ids),
    marked this time."""
    writer = writer_knowing("co1", "co2")
    batch = [paid_create(1), paid_create(2)]
    await writer.use_cases.create_orders(batch)
    await writer.use_cases.marks_written()
    writer.marks.marks.clear()  # the process died before its marks were written
    await writer.use_cases.create_orders(batch)
    await writer.use_cases.create_orders(batch)
    assert len(writer.orders.stored) == 2
    assert sorted(e.order_id for e in writer.published.events) == ["o1", "o1", "o2", "o2"]
    assert len({e.id for e in writer.published.events}) == 2


async def test_a_batch_whose_events_did_not_go_out_publishes_them_when_it_comes_again() -> None:
    writer = writer_knowing("co1")
    publish = writer.published

    async def kafka_down(events: Sequence[tuple[OrderEvent, str | None]]) -> None:
        raise ConnectionError("Kafka is down")

    writer.use_cases._publish_events = kafka_down  # the process dies here: nothing is committed
    with pytest.raises(ConnectionError):
        await writer.use_cases.create_orders([paid_create(1)])
    assert "o1" in writer.orders.stored
    writer.use_cases._publish_events = publish
    await writer.use_cases.create_orders([paid_create(1)])
    assert [e.order_id for e in publish.events] == ["o1"]


async def test_a_batch_big_enough_for_lanes_makes_each_order_once_with_its_retries() -> None:
    writer = writer_knowing(*(f"co{n}" for n in range(300)))
    creates = [paid_create(n) for n in range(300)]
    retries = [c.model_copy(update={"command_id": c.command_id + "-retry"}) for c in creates[::3]]
    await writer.use_cases.create_orders([*creates, *retries])
    assert sorted(writer.orders.stored) == sorted(f"o{n}" for n in range(300))
    assert {writer.status(f"o{n}") for n in range(300)} == {OrderStatus.CREATED}
    assert len(writer.published.events) == 300


async def test_two_orders_for_one_checkout_in_one_batch_make_one_order_and_one_failure() -> None:
    writer = writer_knowing("co1")
    await writer.use_cases.create_orders([paid_create(1, "co1"), paid_create(2, "co1")])
    assert (writer.status("o1"), writer.status("o2")) == (OrderStatus.CREATED, OrderStatus.CHECKOUT_ALREADY_ORDERED)
    assert writer.orders.stored["o2"][0].amount is None  # a failed order shows nothing of the checkout


async def test_a_retry_in_the_same_batch_makes_one_order_and_one_event() -> None:
    writer = writer_knowing("co1")
    retry = paid_create(1).model_copy(update={"command_id": "cmd-retry"})
    await writer.use_cases.create_orders([paid_create(1), retry])
    assert list(writer.orders.stored) == ["o1"]
    assert [e.order_id for e in writer.published.events] == ["o1"]


async def test_an_abandoned_command_in_a_batch_has_no_effect_on_it_or_the_others() -> None:
    writer = writer_knowing("co1", "co2")
    assert await writer.log.abandon("cmd-1", "o1", "order.create", NOW)
    await writer.use_cases.create_orders([paid_create(1), paid_create(2)])
    assert list(writer.orders.stored) == ["o2"]


async def test_a_create_without_a_paid_checkout_waits_while_the_rest_of_its_batch_is_stored() -> None:
    writer = writer_knowing("co1")
    waiting = create_command(command_id="cmd-w", order_id="ow", checkout_id="co-late", idempotency_key="kw")
    await writer.use_cases.create_orders([waiting, paid_create(1)])
    assert writer.status("o1") is OrderStatus.CREATED
    assert "ow" in writer.parked.parked
    assert "ow" not in writer.orders.stored


async def test_an_unknown_checkout_waits_for_the_intake_clock_not_the_wall_clock() -> None:
    """Item 7 of the hardening issue: the wait ends when checkout.events has been read up
    to the grace period after the request, however long that takes."""
    writer = Writer()
    await writer.use_cases.create_orders([create_command()])
    assert writer.orders.stored == {}
    assert "o1" in writer.parked.parked

    for reading in (None, NOW + GRACE - timedelta(milliseconds=1)):  # unknown, then not far enough
        writer.intake.now = reading
        await writer.use_cases.decide_overdue()
        assert writer.orders.stored == {}

    writer.intake.now = NOW + GRACE
    await writer.use_cases.decide_overdue()
    assert writer.status() is OrderStatus.CHECKOUT_NOT_FOUND
    assert writer.parked.parked == {}
    assert [e.order.status for e in writer.published.events] == [OrderStatus.CHECKOUT_NOT_FOUND]


async def test_a_waiting_create_is_made_when_its_checkout_arrives() -> None:
    writer = Writer()
    await writer.use_cases.create_orders([create_command()])
    events = [
        CheckoutEvent(type="checkout.updated", occurred_at=NOW, checkout=checkout(CheckoutStatus.OPEN)),
        CheckoutEvent(type="checkout.paid", occurred_at=NOW, checkout=checkout(CheckoutStatus.PAID, version=2)),
    ]
    await writer.use_cases.take_checkouts(events)  # one batch: the newest of the checkout counts
    assert writer.status() is OrderStatus.CREATED
    assert writer.parked.parked == {}


async def test_an_open_checkout_is_waited_for_and_then_fails_as_not_paid() -> None:
    writer = Writer(CheckoutStatus.OPEN)
    await writer.use_cases.create_orders([create_command()])
    assert writer.orders.stored == {}
    writer.intake.now = NOW + GRACE
    await writer.use_cases.decide_overdue()
    assert writer.status() is OrderStatus.CHECKOUT_NOT_PAID


def _fields(command_id: str) -> dict[str, object]:
    return {"command_id": command_id, "order_id": "o1", "merchant_id": "m1", "issued_at": NOW}


async def test_a_command_is_applied_once_however_often_it_comes() -> None:
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    confirm = ConfirmOrder(**_fields("cmd-confirm"))
    for _ in range(3):
        await writer.use_cases.apply(confirm)
    record = writer.orders.stored["o1"][0]
    assert (record.status, record.version) == (OrderStatus.CONFIRMED, 2)
    assert [e.version for e in writer.published.events] == [1, 2]


async def test_a_refused_command_is_recorded_and_changes_nothing() -> None:
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    await writer.use_cases.apply(ShipOrder(**_fields("cmd-ship")))
    assert writer.log.outcomes["cmd-ship"][0] == "refused"
    assert writer.orders.stored["o1"][0].version == 1
    assert len(writer.published.events) == 1


async def test_another_merchants_command_is_refused() -> None:
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    cancel = CancelOrder(**(_fields("cmd-cancel") | {"merchant_id": "m2"}), reason="customer")
    await writer.use_cases.apply(cancel)
    assert writer.log.outcomes["cmd-cancel"][0] == "refused"
    assert writer.status() is OrderStatus.CREATED


async def test_the_first_change_of_an_order_made_in_a_batch_does_not_send_its_creation_again() -> None:
    writer = writer_knowing("co1")
    await writer.use_cases.create_orders([paid_create(1, "co1")])
    await writer.use_cases.marks_written()
    await writer.use_cases.apply(ConfirmOrder(**_fields("cmd-confirm")))
    assert [e.version for e in writer.published.events] == [1, 2]
    assert writer.orders.stored["o1"][2] == []


async def test_the_first_change_sends_a_creation_its_batch_did_not_get_out() -> None:
    writer = writer_knowing("co1")

    async def kafka_down(events: Sequence[tuple[OrderEvent, str | None]]) -> None:
        raise ConnectionError("Kafka is down")

    publish, writer.use_cases._publish_events = writer.published, kafka_down
    with pytest.raises(ConnectionError):  # the process dies; its batch comes later
        await writer.use_cases.create_orders([paid_create(1, "co1")])
    writer.use_cases._publish_events = publish
    await writer.use_cases.apply(ConfirmOrder(**_fields("cmd-confirm")))
    assert [e.version for e in publish.events] == [1, 2]


async def test_a_creation_event_not_marked_published_goes_again_with_its_redelivered_create() -> None:
    """The process died between storing the order and publishing its event: the command
    comes again, finds its order, and sends the event; marked, it would send nothing."""
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    writer.marks.marks.clear()
    await writer.use_cases.create_orders([create_command()])
    assert [(e.order_id, e.version) for e in writer.published.events] == [("o1", 1), ("o1", 1)]
    assert writer.marks.marks == {"o1"}


async def test_the_stale_outbox_sweep_asks_for_each_orders_turn_and_touches_no_order() -> None:
    """The sweep only finds stale outboxes and asks that each be published in its order's
    turn among its commands (RepublishOutbox); publishing and clearing happen there."""
    writer = Writer(CheckoutStatus.PAID)
    await writer.use_cases.create_orders([create_command()])
    await writer.use_cases.apply(ConfirmOrder(**_fields("cmd-confirm")))
    record, applied, _ = writer.orders.stored["o1"]
    event = writer.published.events[-1]
    writer.orders.stored["o1"] = (record, applied, [event])  # as if it died before publishing
    published = len(writer.published.events)

    await writer.use_cases.publish_stale_outboxes(older_than=timedelta(0))
    assert writer.republish_requests == ["o1"]
    assert len(writer.published.events) == published
    assert writer.orders.stored["o1"][2] == [event]

    await writer.use_cases.handle(RepublishOutbox(order_id="o1"))
    assert writer.published.events[published:] == [event]
    assert writer.orders.stored["o1"][2] == []


def test_a_batch_is_dealt_out_to_even_lanes_each_order_whole_and_in_order() -> None:
    orders = [f"o{i}" for i in range(50)]
    commands = [create_command(command_id=f"cmd-{i}", order_id=order_id) for i, order_id in enumerate(orders)]
    retries = [create_command(command_id=f"retry-{n}", order_id=orders[i]) for n, i in enumerate((3, 3, 17))]
    lanes = split_into_lanes(commands[:20] + retries + commands[20:], 8)
    assert sorted(len({c.order_id for c in lane}) for lane in lanes) == [6, 6, 6, 6, 6, 6, 7, 7]
    for lane in lanes:
        for order_id in {c.order_id for c in lane}:
            assert all(order_id not in {c.order_id for c in other} for other in lanes if other is not lane)
    [lane_of_3] = [lane for lane in lanes if any(c.order_id == "o3" for c in lane)]
    assert [c.command_id for c in lane_of_3 if c.order_id == "o3"] == ["cmd-3", "retry-0", "retry-1"]
