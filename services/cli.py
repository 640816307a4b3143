"""The ``orders`` command: run the services, manage keys, inspect and replay dead letters."""

import argparse
import asyncio
import faulthandler
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any

from schemas.base import utc_now
from schemas.catalog import Address, Product
from schemas.checkout import Checkout, CheckoutEvent, CheckoutStatus
from services.shared.logs import configure_logging
from services.shared.settings import Settings

SERVICES = ("ingress", "writer", "dispatcher")


def main(argv: list[str] | None = None) -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>` prints every stack
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(getattr(args, "service", None) or args.command, settings.log_level)
    args.run(settings, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orders", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a service (or all three, for local use)")
    serve.add_argument("service", choices=(*SERVICES, "all"))
    serve.set_defaults(run=_serve)

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create an API key; prints it once, with the webhook secret")
    create.add_argument("--merchant", required=True)
    create.add_argument("--admin", action="store_true", help="the key sees every merchant's orders")
    create.set_defaults(run=_async(_create_key))
    rotate = keys.add_parser("rotate-secret", help="add a webhook signing secret; both sign until the next rotation")
    rotate.add_argument("--merchant", required=True)
    rotate.set_defaults(run=_async(_rotate_secret))

    topics = commands.add_parser("topics", help="Kafka topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create the service's topics if missing").set_defaults(run=_async(_create_topics))

    demo = commands.add_parser("demo", help="sample data").add_subparsers(dest="action", required=True)
    checkout = demo.add_parser(
        "checkout", help="publish a checkout event to checkout.events, as the checkout service would"
    )
    checkout.add_argument("--merchant", required=True)
    checkout.add_argument("--checkout-id", default=None)
    checkout.add_argument("--status", choices=[s.value for s in CheckoutStatus], default="paid")
    checkout.add_argument("--version", type=int, default=1)
    checkout.set_defaults(run=_async(_publish_demo_checkout))

    dlq = commands.add_parser("dlq", help="dead-lettered webhook deliveries").add_subparsers(
        dest="action", required=True
    )
    dlq_list = dlq.add_parser("list", help="list dead letters, newest first (one JSON object a line)")
    dlq_list.add_argument("--limit", type=int, default=100)
    dlq_list.set_defaults(run=_async(_dlq_list))
    replay = dlq.add_parser("replay", help="deliver dead letters again")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--delivery", help="one delivery, by id")
    which.add_argument("--order", help="all of one order")
    which.add_argument("--url", help="all to one URL")
    which.add_argument("--since", type=datetime.fromisoformat, help="all created since (ISO 8601)")
    which.add_argument("--all", action="store_true")
    replay.set_defaults(run=_async(_dlq_replay))
    return parser


def _async(
    command: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, None]],
) -> Callable[[Settings, argparse.Namespace], None]:
    return lambda settings, args: asyncio.run(command(settings, args))


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    if args.service == "ingress":
        from services.ingress.app import run as run_ingress

        run_ingress(settings)
    elif args.service == "writer":
        from services.order_writer.app import run as run_writer

        asyncio.run(run_writer(settings))
    elif args.service == "dispatcher":
        from services.webhook_dispatcher.app import run as run_dispatcher

        asyncio.run(run_dispatcher(settings))
    else:
        _serve_all()


def _serve_all() -> None:
    """The three services as child processes of this one: a signal stops them all, and if
    one exits the others are stopped too."""
    children = [subprocess.Popen([sys.executable, "-m", "services.cli", "serve", name]) for name in SERVICES]

    def stop(*_: Any) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(child.poll() is None for child in children):
        try:
            os.wait()
        except ChildProcessError:
            break
    stop()
    codes = [child.wait() for child in children]
    sys.exit(max((abs(c) for c in codes), default=0))


async def _with_db(settings: Settings, work: Callable[[Any], Awaitable[None]]) -> None:
    from services.shared.mongo import close_client, connect

    client, db = await connect(settings)
    try:
        await work(db)
    finally:
        await close_client(client)


async def _create_key(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.merchant_store import MerchantStore

    async def work(db: Any) -> None:
        credentials = await MerchantStore(db).create_key(args.merchant, admin=args.admin)
        print(
            json.dumps(
                {
                    "merchantId": credentials.merchant_id,
                    "apiKey": credentials.api_key,
                    "webhookSecret": credentials.webhook_secret,
                }
            )
        )

    await _with_db(settings, work)


async def _rotate_secret(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.merchant_store import MerchantStore

    async def work(db: Any) -> None:
        print(
            json.dumps(
                {"merchantId": args.merchant, "webhookSecret": await MerchantStore(db).rotate_secret(args.merchant)}
            )
        )

    await _with_db(settings, work)


async def _create_topics(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.kafka import ensure_topics

    created = await ensure_topics(settings)
    print(json.dumps({"created": created, "topics": settings.topics.all()}))


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


async def _publish_demo_checkout(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.kafka import ensure_topics, make_broker, publish, start_broker

    event = demo_checkout(
        args.merchant, args.checkout_id or str(uuid.uuid4()), CheckoutStatus(args.status), args.version
    )
    await ensure_topics(settings)
    broker = make_broker(settings)
    await start_broker(broker)
    try:
        await publish(broker, event, settings.topics.checkout_events, key=event.checkout.id)
    finally:
        await broker.stop()
    print(json.dumps({"checkoutId": event.checkout.id, "merchantId": args.merchant, "status": args.status}))


async def _dlq_list(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.delivery_store import DeliveryStore

    async def work(db: Any) -> None:
        for delivery in await DeliveryStore(db).dead_letters(args.limit):
            print(delivery.model_dump_json(exclude={"body"}))

    await _with_db(settings, work)


async def _dlq_replay(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.delivery_store import DeliveryStore

    async def work(db: Any) -> None:
        count = await DeliveryStore(db).replay(
            delivery_id=args.delivery, order_id=args.order, url=args.url, since=args.since
        )
        print(json.dumps({"replayed": count}))

    await _with_db(settings, work)


if __name__ == "__main__":
    main()
