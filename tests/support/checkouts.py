"""Paid checkouts as the upstream checkout service publishes them, for tests and benchmarks
that need the ingress (and the writer's view) to know them first."""

import uuid

from schemas.checkout import Checkout, CheckoutStatus
from schemas.storage.orders import CHECKOUTS
from tests.support.demo import demo_checkout
from tests.support.metrics import metrics, value
from tests.support.stack import Stack, eventually


async def paid_checkouts_published(
    stack: Stack, merchant_id: str, count: int, *, in_view: bool, timeout: float = 300
) -> list[Checkout]:
    """``count`` paid checkouts published on ``checkout.events``, as the checkout service
    would, once the ingress reads the topic (its consumer starts at the end of the topic, so
    probes are published until one is seen); returns when the ingress remembers them all
    (``RecentCheckouts``) and, if ``in_view``, the writer's view has them too."""
    topic = stack.settings.topics.checkout_events

    async def remembered() -> float:
        return value((await metrics(stack.base_url))[1], "orders_ingress_recent_checkouts")

    async def probe_seen() -> bool:
        probe = demo_checkout(merchant_id, str(uuid.uuid4()), CheckoutStatus.PAID, 1)
        await stack.publish(topic, probe, probe.checkout.id)
        return await remembered() > 0

    await eventually(probe_seen, timeout=timeout, interval=0.5)
    before = await remembered()
    events = [demo_checkout(merchant_id, str(uuid.uuid4()), CheckoutStatus.PAID, 1) for _ in range(count)]
    await stack.publish_many(topic, [(e, e.checkout.id) for e in events])

    async def all_known() -> bool:
        if await remembered() < before + count:
            return False
        return not in_view or await stack.db[CHECKOUTS].count_documents({}) >= count

    await eventually(all_known, timeout=timeout, interval=0.5)
    return [e.checkout for e in events]
