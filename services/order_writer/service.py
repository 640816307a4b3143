"""What the order-writer does with each message: receive, decide (pure domain functions),
persist (one atomic document write per change), publish (the outbox, then forget it)."""

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from schemas.base import utc_now
from schemas.checkout import Checkout, CheckoutEvent, CheckoutStatus
from schemas.commands import OrderCommand, OrderCommandsMessage, OrderCreateCommand, RepublishOutbox
from schemas.events import OrderEvent
from schemas.order import OrderStatus
from services.domain.creation import build_order, creation_status, newest_checkouts, waits_until
from services.domain.events import event_for
from services.domain.lifecycle import apply_command
from services.domain.outcomes import Refusal
from services.domain.returns import ReturnPolicy
from services.shared.logs import logged_with
from services.shared.tracing import continued, current_traceparent

from .metrics import ORDERS_STORED
from .ports import (
    Checkouts,
    Commands,
    IntakeClock,
    NewOrder,
    Orders,
    Parked,
    PublishedCreations,
    PublishEvents,
    RequestRepublish,
)

logger = logging.getLogger(__name__)


CREATE_LANES = 8
COMMANDS_PER_LANE = 64
"""A batch of creates is split into lanes (``split_into_lanes``), one per
``COMMANDS_PER_LANE`` commands and at most ``CREATE_LANES``, that take, claim, insert and
publish side by side: the database works on one lane's writes while the process prepares or
publishes another's.
Each lane costs three bulk inserts, so a small batch keeps one. Measured with
``tests/bench/writer.py`` (batches of 500): one lane stores about 970 orders/s, four 1,280/s,
eight 1,360/s."""


def split_into_lanes(commands: Sequence[OrderCreateCommand], count: int) -> list[list[OrderCreateCommand]]:
    """Deal a batch's orders out to ``count`` lanes in turn, each order's creates to one lane
    in the order they came. A batch waits for its slowest lane, so the lanes are even. By a
    hash of the order id, the largest and the smallest of 8 lanes of 500 creates differed by
    23 (the median of 200 draws). Dealt in turn, the writer stored 1,911–2,160 orders/s
    against 1,752–2,038 (``tests/bench/writer.py``, 30,000 creates, five alternating rounds;
    four of the five went to the even lanes)."""
    lanes: list[list[OrderCreateCommand]] = [[] for _ in range(count)]
    lane_of: dict[str, int] = {}
    for command in commands:
        lanes[lane_of.setdefault(command.order_id, len(lane_of) % count)].append(command)
    return lanes


def _log_abandoned(command: OrderCreateCommand | OrderCommand) -> None:
    logger.info("%s command %s was abandoned by the ingress (answered 503)", command.type, command.command_id)


def _worth_waiting_for(found: tuple[Checkout, str | None] | None) -> bool:
    """An unknown checkout may still arrive, and an open one may still be paid."""
    return found is None or found[0].status is CheckoutStatus.OPEN


class OrderWriter:
    def __init__(
        self,
        orders: Orders,
        checkouts: Checkouts,
        parked: Parked,
        command_log: Commands,
        publish_events: PublishEvents,
        published: PublishedCreations,
        intake: IntakeClock,
        request_republish: RequestRepublish,
        *,
        checkout_grace: timedelta,
        return_policy: ReturnPolicy,
    ) -> None:
        self._orders = orders
        self._checkouts = checkouts
        self._parked = parked
        self._command_log = command_log
        self._publish_events = publish_events
        self._published = published
        self._marking: set[asyncio.Task[None]] = set()
        self._intake = intake
        self._request_republish = request_republish
        self._checkout_grace = checkout_grace
        self._return_policy = return_policy

    async def take_checkouts(self, events: list[CheckoutEvent], traceparents: Sequence[str | None] = ()) -> None:
        """Keep the newest view of each checkout of a batch of events; decide the orders that
        were waiting for those now paid or expired (an open one may still be paid), each in
        the trace of the checkout event that settled it."""
        taken = await self._checkouts.apply_many(newest_checkouts(e.checkout for e in events))
        settled = {c.id: c for c in taken if c.status is not CheckoutStatus.OPEN}
        trace_of = {e.checkout.id: t for e, t in zip(events, traceparents, strict=False)}
        for command in await self._parked.for_checkouts(list(settled)):
            with continued(trace_of.get(command.checkout_id)):
                await self._decide_creation(command, (settled[command.checkout_id], None), parked=True)

    async def create_orders(
        self, commands: Sequence[OrderCreateCommand], traceparents: Sequence[str | None] = ()
    ) -> None:
        """A batch of creates, each in the trace of its request, in lanes side by side (see
        ``CREATE_LANES``); one order's creates share a lane, and come in order there."""
        trace_of = dict(zip((c.command_id for c in commands), traceparents, strict=False))
        count = min(max(len(commands) // COMMANDS_PER_LANE, 1), CREATE_LANES)
        lanes = split_into_lanes(commands, count)
        published = await asyncio.gather(*(self._create_lane(lane, trace_of) for lane in lanes if lane))
        self._mark_later([order_id for lane in published for order_id in lane])

    async def _create_lane(self, commands: list[OrderCreateCommand], trace_of: dict[str, str | None]) -> list[str]:
        """Creates that carry the paid checkout the ingress saw are decided together, with
        three bulk inserts for all of them: taken from the command log, their checkouts
        claimed, their orders stored; then their events are published. The rest (an
        unknown checkout, a retry, a second create of one order) go one by one, after them.
        Returns the orders created together, whose creation events are published."""
        together: dict[str, OrderCreateCommand] = {}
        alone: list[OrderCreateCommand] = []
        for command, taken in zip(commands, await self._command_log.take_many(commands, utc_now()), strict=True):
            if not taken:
                _log_abandoned(command)
            elif command.paid_checkout is not None and command.order_id not in together:
                together[command.order_id] = command
            else:
                alone.append(command)
        published = await self._create_together(list(together.values()), trace_of) if together else []
        for command in alone:
            with continued(trace_of.get(command.command_id)):
                await self._create_taken(command)
        return published

    async def _create_together(self, commands: list[OrderCreateCommand], trace_of: dict[str, str | None]) -> list[str]:
        """Decide creates on the checkouts they carry. Their outboxes are not cleared (an
        update per order, the dearest command on FerretDB): should the process die before
        publishing, Kafka hands the batch over again and ``_made_before`` publishes them.
        Returns the orders it stored and published. Once published, the orders of a whole
        batch are marked so with one bulk insert (``create_orders``), which the order's
        first change reads to leave the creation event, still in the outbox, unsent. The
        mark is written while the next batch goes on: one lost (the process ends first) or
        not written yet only makes the first change send the creation event again."""
        holders = await self._checkouts.claim_many([(c.checkout_id, c.order_id) for c in commands])
        now = utc_now()
        new_orders: list[NewOrder] = []
        for command, holder in zip(commands, holders, strict=True):
            status = creation_status(command.merchant_id, command.order_id, command.paid_checkout, holder)
            record = build_order(command, command.paid_checkout, status, now)
            new_orders.append((record, event_for(record, "order.status.updated", None, now), command.command_id))
        stored = await self._orders.insert_many(new_orders)
        fresh = [(event, command_id) for (_, event, command_id), new in zip(new_orders, stored, strict=True) if new]
        for stored_as, count in Counter(event.order.status.value for event, _ in fresh).items():
            ORDERS_STORED.labels(stored_as).inc(count)
        for event, command_id in fresh:
            with continued(trace_of.get(command_id)), logged_with(orderId=event.order_id, commandId=command_id):
                logger.info("order %s stored as %s", event.order_id, event.order.status)
        await self._publish_events([(event, trace_of.get(command_id)) for event, command_id in fresh])
        for command, new in zip(commands, stored, strict=True):
            if not new:
                await self._made_before(command)
        return [event.order_id for event, _ in fresh]

    async def _create_taken(self, command: OrderCreateCommand) -> None:
        """A create the writer has taken, decided on the checkout view as it is now."""
        if await self._made_before(command):
            return
        found = await self._checkouts.get(command.checkout_id)
        if _worth_waiting_for(found):
            # The checkout event (or its payment) may still be on its way: park the command
            # instead of blocking this partition. Look again after parking, since the
            # checkout may have arrived in between (its handler looks for parked commands
            # after storing it).
            await self._parked.park(command, waits_until(command, self._checkout_grace), current_traceparent())
            found = await self._checkouts.get(command.checkout_id)
            if _worth_waiting_for(found):
                logger.info("order %s waits for checkout %s", command.order_id, command.checkout_id)
                return
            await self._decide_creation(command, found, parked=True)
            return
        await self._decide_creation(command, found, parked=False)

    def _mark_later(self, order_ids: list[str]) -> None:
        if order_ids:
            task = asyncio.create_task(self._mark(order_ids))
            self._marking.add(task)
            task.add_done_callback(self._marking.discard)

    async def _mark(self, order_ids: list[str]) -> None:
        try:
            await self._published.mark(order_ids)
        except Exception:  # their first change sends the creation event again: no harm
            logger.warning("marking %d orders' creation events as published failed", len(order_ids), exc_info=True)

    async def marks_written(self) -> None:
        """Wait until the marks being written are (at shutdown, and in tests)."""
        await asyncio.gather(*self._marking)

    async def _made_before(self, command: OrderCreateCommand) -> bool:
        """Whether the command's order exists. If this very command made it (Kafka hands it
        over again, or its parked copy comes again, perhaps after a crash before its event
        went out), nothing changed the order since, and its creation event is not marked
        published, the event goes again. Another create of the order (a retry) publishes
        nothing: the one that made it does, or its redelivery. Events of later changes are
        their commands' to publish."""
        state = await self._orders.get_with_state(command.order_id)
        if state is None:
            return False
        record, applied_commands, outbox = state
        if command.command_id not in applied_commands or record.version != 1 or not outbox:
            return True
        if not await self._published.marked(record.id):
            await self._announce_creation(record.id, outbox)
        return True

    async def decide_overdue(self) -> None:
        """Decide the parked commands whose wait is over: the intake clock has passed the
        grace period after their request, so their checkout is not coming (unless it
        arrived at the last moment)."""
        clock = await self._intake.clock()
        if clock is None:
            return
        for parked in await self._parked.due(clock):
            command = parked.command
            with continued(parked.traceparent):
                await self._decide_creation(command, await self._checkouts.get(command.checkout_id), parked=True)

    async def _decide_creation(
        self, command: OrderCreateCommand, found: tuple[Checkout, str | None] | None, *, parked: bool
    ) -> None:
        """Store the new order (made, or failed) and announce it. Its outcome is the order
        itself, so the command log keeps only the writer's claim on the command."""
        checkout, ordered_by = found if found else (None, None)
        status = creation_status(command.merchant_id, command.order_id, checkout, ordered_by)
        if status is OrderStatus.CREATED and checkout is not None:
            [holder] = await self._checkouts.claim_many([(checkout.id, command.order_id)])
            status = creation_status(command.merchant_id, command.order_id, checkout, holder)
        now = utc_now()
        record = build_order(command, checkout, status, now)
        event = event_for(record, "order.status.updated", None, now)
        [stored] = await self._orders.insert_many([(record, event, command.command_id)])
        if not stored:  # decided before (a redelivery, a retry or a second wake-up)
            await self._made_before(command)
        else:
            logger.info("order %s stored as %s", record.id, status)
            ORDERS_STORED.labels(status.value).inc()
            await self._announce_creation(record.id, [event])
        # Only now: should the process die before the event is out, the parked command
        # (or, for one that never waited, its redelivery from Kafka) decides it again.
        if parked:
            await self._parked.remove(command.order_id)

    async def _announce_creation(self, order_id: str, outbox: list[OrderEvent]) -> None:
        """Publish a new order's creation event and mark it published, leaving it in the
        outbox: clearing it here, outside the order's turn among its commands, could undo
        a change a command makes at the same moment (``RepublishOutbox``)."""
        trace = current_traceparent()
        await self._publish_events([(event, trace) for event in outbox])
        await self._published.mark([order_id])

    async def handle(self, message: OrderCommandsMessage) -> None:
        """One message of ``order.commands``, in its order's turn."""
        if isinstance(message, RepublishOutbox):
            await self.publish_outbox(message.order_id)
        else:
            await self.apply(message)

    async def apply(self, command: OrderCommand) -> None:
        """Apply a lifecycle or return command exactly once in effect. A conflicting write
        (another command changed the order first) makes the decision again on the new order."""
        if not await self._take(command):
            return
        while True:
            state = await self._orders.get_with_state(command.order_id)
            now = utc_now()
            if state is None:
                await self._refuse(command, f"order {command.order_id} not found")
                return
            record, applied_commands, outbox = state
            if command.command_id in applied_commands:
                await self.publish_outbox(record.id)
                return
            if record.version == 1 and outbox and await self._published.marked(record.id):
                outbox = []  # created in a batch that published it
            outcome = apply_command(record, command, now, self._return_policy)
            if isinstance(outcome, Refusal):
                await self._refuse(command, outcome.detail)
                return
            event = event_for(outcome.record, outcome.event_type, outcome.refund, now)
            outbox_since = outbox[0].occurred_at if outbox else now
            if await self._orders.replace(record.version, outcome.record, event, command.command_id, outbox_since):
                ORDERS_STORED.labels(outcome.record.status.value).inc()
                await self._command_log.record(command.command_id, "applied", "", now)
                await self._publish(record.id, outcome.record.version, [*outbox, event])
                return

    async def _take(self, command: OrderCommand) -> bool:
        """Claim the command in the log; False if the ingress abandoned it (answered 503)."""
        [taken] = await self._command_log.take_many([command], utc_now())
        if not taken:
            _log_abandoned(command)
        return taken

    async def _refuse(self, command: OrderCommand, detail: str) -> None:
        logger.info(
            "command %s (%s) on order %s refused: %s", command.command_id, command.type, command.order_id, detail
        )
        await self._command_log.record(command.command_id, "refused", detail, utc_now())

    async def publish_outbox(self, order_id: str) -> None:
        """Publish the order's unpublished events in version order, then forget them."""
        state = await self._orders.get_with_state(order_id)
        if state is not None and state[2]:
            await self._publish(order_id, state[0].version, state[2])

    async def _publish(self, order_id: str, version: int, outbox: list[OrderEvent]) -> None:
        """Publish an outbox known to be the order's at ``version``, then forget it; only in
        the order's turn among its commands (``RepublishOutbox``)."""
        trace = current_traceparent()
        await self._publish_events([(event, trace) for event in sorted(outbox, key=lambda e: e.version)])
        await self._orders.clear_outbox(order_id, version)

    async def publish_stale_outboxes(self, older_than: timedelta = timedelta(seconds=5)) -> None:
        """Events of a change left unpublished (the process died between storing and
        publishing, and its command came back to no process in time): asked for in each
        order's turn among its commands (``RepublishOutbox``), never published from here."""
        stale = await self._orders.with_unpublished_events(utc_now() - older_than, limit=500)
        if stale:
            await self._request_republish(stale)
