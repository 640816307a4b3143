"""Reconciliation reports and the NDJSON export through the real stack: refunds and net
amounts, totals per currency, each merchant's own orders, the command line's copy, and CSV
cells that cannot run as formulas."""

import asyncio
import csv
import io
import json
import sys
import uuid
from datetime import timedelta

from schemas.base import utc_now, wire_timestamp
from services.domain.events import event_for
from services.domain.queries import OrderQuery
from services.order_writer.queries import OrderQueries
from services.order_writer.store import OrderStore
from tests.factories import order
from tests.support.orders import deliver, new_order, step
from tests.support.stack import Stack


async def test_the_report_shows_refunds_net_amounts_and_only_the_merchants_orders(stack: Stack) -> None:
    merchant, other = await stack.merchant(), await stack.merchant()
    started = utc_now() - timedelta(seconds=1)
    refunded = await new_order(stack, merchant, paymentReference="=1+1")
    await deliver(stack, merchant, refunded)
    path = f"/orders/{refunded}/returns"
    async with stack.client(merchant.api_key) as api:
        opened = await api.post(path, json={"products": [{"id": "prod-1", "quantity": 1, "reason": "changed_mind"}]})
        return_id = opened.json()["id"]
    await stack.order(merchant.api_key, refunded, lambda o: len(o["returns"]["returns"]) == 1)
    for action in ("pickup", "succeed"):
        await step(
            stack,
            merchant,
            f"{path}/{return_id}/{action}",
            "success.delivered",
        )
    order = await stack.order(
        merchant.api_key, refunded, lambda o: o["returns"]["returns"][0]["status"] == "success.refunded"
    )
    canceled = await new_order(stack, merchant)
    await step(stack, merchant, f"/orders/{canceled}/cancel", "canceled.merchant", {"reason": "merchant"})
    await new_order(stack, other)
    window = {"from": wire_timestamp(started), "to": wire_timestamp(utc_now() + timedelta(seconds=1))}

    async with stack.client(merchant.api_key) as api:
        as_csv = await api.get("/reports/reconciliation", params=window)
        as_json = await api.get("/reports/reconciliation", params=window, headers={"accept": "application/json"})
    assert as_csv.status_code == 200, as_csv.text
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["orderId"] for r in rows] == [refunded, canceled]
    refund = order["returns"]["returns"][0]["products"][0]
    amount = order["amount"]
    assert rows[0]["paymentReference"] == "'=1+1"  # text, not a formula, when the file is opened
    assert (int(rows[0]["refundedAmount"]), int(rows[0]["netAmount"])) == (
        refund["unitPrice"],
        amount - refund["unitPrice"],
    )
    assert rows[0]["deliveredAt"].endswith("Z")
    assert (rows[1]["status"], rows[1]["netAmount"], rows[1]["amount"]) == ("canceled.merchant", "0", str(amount))
    report = as_json.json()
    assert [r["orderId"] for r in report["data"]] == [refunded, canceled]
    assert report["data"][0]["paymentReference"] == "=1+1"  # JSON carries the value as it is
    assert report["totals"] == {
        order["currency"]: {
            "orders": 2,
            "amount": 2 * amount,
            "refundedAmount": refund["unitPrice"],
            "netAmount": amount - refund["unitPrice"],
        }
    }

    command = [sys.executable, "-m", "services.cli", "report", "reconciliation", "--merchant", merchant.merchant_id]
    command += ["--from", window["from"], "--to", window["to"]]
    printed = await asyncio.create_subprocess_exec(*command, env=stack.env, stdout=asyncio.subprocess.PIPE)
    stdout, _ = await asyncio.wait_for(printed.communicate(), timeout=60)
    assert printed.returncode == 0
    assert stdout.decode() == as_csv.text


async def test_the_export_streams_the_filtered_orders_oldest_first_as_ndjson(stack: Stack) -> None:
    merchant, other = await stack.merchant(), await stack.merchant()
    first, second = await new_order(stack, merchant), await new_order(stack, merchant)
    canceled = await new_order(stack, merchant)
    await step(stack, merchant, f"/orders/{canceled}/cancel", "canceled.merchant", {"reason": "merchant"})
    foreign = await new_order(stack, other)
    async with stack.client(merchant.api_key) as api:
        everything = await api.get("/orders/export")
        pending = await api.get("/orders/export", params={"filter.status": "pending"})
    assert everything.headers["content-type"] == "application/x-ndjson"
    exported = [json.loads(line) for line in everything.text.splitlines()]
    assert [o["id"] for o in exported] == [first, second, canceled]
    assert foreign not in everything.text
    assert [json.loads(line)["id"] for line in pending.text.splitlines()] == [first, second]
    assert "returns" not in exported[0]


async def test_an_export_starts_at_a_merchants_earliest_order_whichever_batch_stored_it(stack: Stack) -> None:
    merchant_id = f"span-{uuid.uuid4().hex[:8]}"
    now = utc_now()
    store, queries = OrderStore(stack.db), OrderQueries(stack.db)

    async def store_created(days_ago: int, by: OrderStore = store) -> None:
        record = order(id=str(uuid.uuid4()), merchant_id=merchant_id, created_at=now - timedelta(days=days_ago))
        [stored] = await by.insert_many(
            [(record, event_for(record, "order.status.updated", None, now), str(uuid.uuid4()))]
        )
        assert stored

    assert await queries.earliest(OrderQuery(), merchant_id) is None
    # two writers meeting the merchant at once (the span is new to both) both succeed
    await asyncio.gather(store_created(days_ago=3), store_created(days_ago=2, by=OrderStore(stack.db)))
    assert await queries.earliest(OrderQuery(), merchant_id) == now - timedelta(days=3)
    await store_created(days_ago=40)  # an older order in a later batch moves the span back
    await store_created(days_ago=1)  # a newer one leaves it
    assert await queries.earliest(OrderQuery(), merchant_id) == now - timedelta(days=40)
    exported = [r.created_at async for r in queries.stream(OrderQuery(), merchant_id, now - timedelta(days=40), now)]
    assert exported == [now - timedelta(days=d) for d in (40, 3, 2, 1)]
