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

import uvloop

from schemas.base import utc_now, wire_timestamp
from services.shared.logs import configure_logging
from services.shared.settings import Settings

SERVICES = ("ingress", "writer", "dispatcher")


def main(argv: list[str] | None = None) -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>` prints every stack
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(getattr(args, "service", None) or args.command, settings.log_level, settings.log_format)
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

    listing = keys.add_parser("list", help="list keys (id, merchant, admin, created, revoked); never the keys")
    listing.add_argument("--merchant", default=None)
    listing.set_defaults(run=_async(_list_keys))
    revoke = keys.add_parser("revoke", help="revoke a key by its id; it stops working within the key cache time")
    revoke.add_argument("--key-id", required=True, help="as `orders keys list` shows it")
    revoke.set_defaults(run=_async(_revoke_key))

    topics = commands.add_parser("topics", help="Kafka topics").add_subparsers(dest="action", required=True)
    topics.add_parser("create", help="create the service's topics if missing").set_defaults(run=_async(_create_topics))

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

    report = commands.add_parser("report", help="reports").add_subparsers(dest="action", required=True)
    reconciliation = report.add_parser(
        "reconciliation", help="the reconciliation report of a merchant's orders created in [from, to), to stdout"
    )
    reconciliation.add_argument("--merchant", required=True)
    reconciliation.add_argument("--from", dest="start", required=True, type=_instant, help="ISO 8601 with a time zone")
    reconciliation.add_argument("--to", dest="end", required=True, type=_instant, help="ISO 8601 with a time zone")
    reconciliation.add_argument("--format", choices=("csv", "json"), default="csv")
    reconciliation.set_defaults(run=_async(_report_reconciliation))
    return parser


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a time zone (2026-11-01T00:00:00Z)")
    return value


def _async(
    command: Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, None]],
) -> Callable[[Settings, argparse.Namespace], None]:
    return lambda settings, args: asyncio.run(command(settings, args))


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    if args.service != "all":
        from services.shared.runtime import tune_garbage_collector
        from services.shared.tracing import configure_tracing

        configure_tracing(f"orders-{args.service}")
        tune_garbage_collector()
    if args.service == "ingress":
        from services.ingress.app import run as run_ingress

        run_ingress(settings)
    elif args.service == "writer":
        from services.order_writer.app import run as run_writer

        uvloop.run(run_writer(settings))
    elif args.service == "dispatcher":
        from services.webhook_dispatcher.app import run as run_dispatcher

        uvloop.run(run_dispatcher(settings))
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
    from services.shared.mongo import close_client, open_database

    client, db = open_database(settings)
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


async def _list_keys(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.merchant_store import MerchantStore

    async def work(db: Any) -> None:
        for key in await MerchantStore(db).list_keys(args.merchant):
            print(
                json.dumps(
                    {
                        "keyId": key.key_id,
                        "merchantId": key.merchant_id,
                        "admin": key.admin,
                        "createdAt": key.created_at and wire_timestamp(key.created_at),
                        "revokedAt": key.revoked_at and wire_timestamp(key.revoked_at),
                    }
                )
            )

    await _with_db(settings, work)


async def _revoke_key(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.merchant_store import MerchantStore

    async def work(db: Any) -> None:
        if not await MerchantStore(db).revoke(args.key_id):
            sys.exit(f"no key {args.key_id} that is not revoked already")
        print(
            json.dumps(
                {"keyId": args.key_id, "revoked": True, "effectiveWithinSeconds": settings.api_key_cache_seconds}
            )
        )

    await _with_db(settings, work)


async def _create_topics(settings: Settings, args: argparse.Namespace) -> None:
    from services.shared.kafka import ensure_topics

    created = await ensure_topics(settings)
    print(json.dumps({"created": created, "topics": settings.topics.all()}))


async def _report_reconciliation(settings: Settings, args: argparse.Namespace) -> None:
    """The same stream as ``GET /reports/reconciliation``, written as it comes."""
    from services.domain.queries import OrderQuery
    from services.domain.reconciliation import range_problem
    from services.ingress.reports import reconciliation_csv, reconciliation_json
    from services.order_writer.queries import OrderQueries

    if problem := range_problem(args.start, args.end):
        sys.exit(f"orders report reconciliation: {problem}")
    render = reconciliation_csv if args.format == "csv" else reconciliation_json

    async def work(db: Any) -> None:
        records = OrderQueries(db).stream(OrderQuery(), args.merchant, args.start, args.end)
        async for chunk in render(records):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()

    await _with_db(settings, work)


async def _dlq_list(settings: Settings, args: argparse.Namespace) -> None:
    from services.webhook_dispatcher.queries import DeliveryQueries

    async def work(db: Any) -> None:
        for delivery in await DeliveryQueries(db).dead_letters(args.limit):
            print(delivery.model_dump_json(exclude={"body"}))

    await _with_db(settings, work)


async def _dlq_replay(settings: Settings, args: argparse.Namespace) -> None:
    """Ask the dispatcher (on ``webhook.commands``) to deliver the selected dead letters again."""
    from schemas.webhook_commands import DeadLetterSelector, ReplayDeadLetters
    from services.shared.kafka import make_broker, publish, start_broker
    from services.webhook_dispatcher.queries import DeliveryQueries

    selector = DeadLetterSelector(
        delivery_id=args.delivery, order_id=args.order, url=args.url, since=args.since, all=args.all
    )
    counted: list[int] = []

    async def count(db: Any) -> None:
        counted.append(await DeliveryQueries(db).count_dead_letters(selector))

    await _with_db(settings, count)
    command = ReplayDeadLetters(command_id=str(uuid.uuid4()), selector=selector, requested_at=utc_now())
    broker = make_broker(settings, instrumented=False)
    await start_broker(broker)
    try:
        await publish(broker, command, settings.topics.webhook_commands, key=command.command_id)
    finally:
        await broker.stop()
    print(json.dumps({"replayed": counted[0], "commandId": command.command_id}))


if __name__ == "__main__":
    main()
