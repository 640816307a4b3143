"""A stand-in for the upstream checkout service: plausible checkouts, and a command that
publishes one to ``checkout.events`` (``make run`` uses it for its demo order). Test data,
so it lives with the tests, not in the service's command line.

    python -m tests.support.demo --merchant ID [--status paid|open|expired] [--checkout-id ID] [--version N]
"""

import argparse
import asyncio
import json
import uuid

from schemas.base import utc_now
from schemas.catalog import Address, Product
from schemas.checkout import Checkout, CheckoutEvent, CheckoutStatus
from services.shared.kafka import ensure_topics, make_broker, publish, start_broker
from services.shared.settings import Settings


def demo_checkout(merchant_id: str, checkout_id: str, status: CheckoutStatus, version: int) -> CheckoutEvent:
    """A plausible checkout of two products, as the checkout service would publish it."""
    products = [
        Product(id="prod-1", sku="TSHIRT-M-BLUE", name="T-shirt, blue, M", quantity=2, unit_price=45000),
        Product(id="prod-2", sku="MUG-WHITE", name="Mug, white", quantity=1, unit_price=110000),
    ]
    checkout = Checkout(
        id=checkout_id,
        merchant_id=merchant_id,
        user_id=str(uuid.uuid4()),
        cart_id=str(uuid.uuid4()),
        status=status,
        currency="EGP",
        amount=sum(p.quantity * p.unit_price for p in products),
        products=products,
        address=Address(
            first_name="Mona", last_name="Hassan", phone="+201000000000", line1="12 Nile St", city="Cairo", country="EG"
        ),
        version=version,
    )
    event_type = {"paid": "checkout.paid", "expired": "checkout.expired"}.get(status.value, "checkout.updated")
    return CheckoutEvent.model_validate({"type": event_type, "occurred_at": utc_now(), "checkout": checkout})


async def _publish(settings: Settings, event: CheckoutEvent) -> None:
    await ensure_topics(settings)
    broker = make_broker(settings)
    await start_broker(broker)
    try:
        await publish(broker, event, settings.topics.checkout_events, key=event.checkout.id)
    finally:
        await broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.support.demo", description=__doc__)
    parser.add_argument("--merchant", required=True)
    parser.add_argument("--checkout-id", default=None)
    parser.add_argument("--status", choices=[s.value for s in CheckoutStatus], default="paid")
    parser.add_argument("--version", type=int, default=1)
    args = parser.parse_args()
    event = demo_checkout(
        args.merchant, args.checkout_id or str(uuid.uuid4()), CheckoutStatus(args.status), args.version
    )
    asyncio.run(_publish(Settings(), event))
    print(json.dumps({"checkoutId": event.checkout.id, "merchantId": args.merchant, "status": args.status}))


if __name__ == "__main__":
    main()
