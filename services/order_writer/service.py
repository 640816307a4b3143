"""What the order-writer does with each message: receive, decide (pure domain functions),
persist (one atomic document write per change), publish (the outbox, then forget it)."""

import logging
from collections.abc import Sequence
from datetime import timedelta

from schemas.base import utc_now
from schemas.checkout import Checkout, CheckoutEvent, CheckoutStatus
from schemas.commands import OrderCommand, OrderCreateCommand
from schemas.events import OrderEvent
from schemas.order import OrderStatus
from services.domain.creation import build_order, creation_status, newest_checkouts, waits_until
from services.domain.events import event_for
from services.domain.lifecycle import apply_command
from services.domain.outcomes import Refusal
from services.domain.returns import ReturnPolicy
from services.shared.tracing import continued, current_traceparent

from .metrics import ORDERS_STORED
from .ports import Checkouts, Commands, IntakeClock, Orders, Parked, PublishEvent

logger = logging.getLogger(__name__)


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
        publish_event: PublishEvent,
        intake: IntakeClock,
        *,
        checkout_grace: timedelta,
        return_policy: ReturnPolicy,
    ) -> None:
        self._orders = orders
        self._checkouts = checkouts
        self._parked = parked
        self._command_log = command_log
        self._publish_event = publish_event
        self._intake = intake
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

    async def create_order(self, command: OrderCreateCommand) -> None:
        if not await self._take(command):
            return
        if await self._orders.get_with_state(command.order_id) is not None:
            await self.publish_outbox(command.order_id)  # a re-delivered command
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
            holder = await self._checkouts.claim(checkout.id, command.order_id)
            status = creation_status(command.merchant_id, command.order_id, checkout, holder)
        now = utc_now()
        record = build_order(command, checkout, status, now)
        event = event_for(record, "order.status.updated", None, now)
        stored = await self._orders.insert(record, event, command.command_id)
        if parked:
            await self._parked.remove(command.order_id)
        if not stored:  # decided before (a redelivery or a second wake-up): its outbox, if any
            await self.publish_outbox(command.order_id)
            return
        logger.info("order %s stored as %s", record.id, status)
        ORDERS_STORED.labels(status.value).inc()
        await self._publish(record.id, record.version, [event])

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

    async def _take(self, command: OrderCreateCommand | OrderCommand) -> bool:
        """Claim the command in the log; False if the ingress abandoned it (answered 503)."""
        if await self._command_log.take(command.command_id, command.order_id, command.type, utc_now()):
            return True
        logger.info("%s command %s was abandoned by the ingress (answered 503)", command.type, command.command_id)
        return False

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
        """Publish an outbox known to be the order's at ``version``, then forget it."""
        for event in sorted(outbox, key=lambda e: e.version):
            await self._publish_event(event)
        await self._orders.clear_outbox(order_id, version)

    async def publish_stale_outboxes(self, older_than: timedelta = timedelta(seconds=5)) -> None:
        """Events left unpublished by a crash between storing and publishing."""
        for order_id in await self._orders.with_unpublished_events(utc_now() - older_than, limit=500):
            await self.publish_outbox(order_id)
