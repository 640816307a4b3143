"""Reconciliation reports: one row per order, with what was refunded and what is left, and
totals per currency; the CSV form safe to open in a spreadsheet. Plain functions, no I/O."""

import csv
import io
from collections.abc import Iterable
from datetime import datetime, timedelta

from schemas.api import CurrencyTotals, ReconciliationRow
from schemas.base import wire_timestamp
from schemas.order import OrderRecord, ReturnStatus

COLUMNS = (
    "orderId",
    "createdAt",
    "paymentReference",
    "checkoutId",
    "currency",
    "amount",
    "status",
    "deliveredAt",
    "refundedAmount",
    "netAmount",
)
MAX_RANGE = timedelta(days=366)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NO_CURRENCY = ""


def reconciliation_row(order: OrderRecord) -> ReconciliationRow:
    """``refundedAmount``: the products of the order's refunded returns; ``netAmount``: what
    the merchant keeps, 0 for failed and canceled orders (their ``amount`` still shows the
    checkout's)."""
    refunded = sum(
        product.unit_price * product.quantity
        for ret in order.returns
        if ret.status is ReturnStatus.REFUNDED
        for product in ret.products
    )
    kept = order.status.value.split(".")[0] not in ("failed", "canceled")
    return ReconciliationRow(
        order_id=order.id,
        created_at=order.created_at,
        payment_reference=order.payment_reference,
        checkout_id=order.checkout_id,
        currency=order.currency,
        amount=order.amount,
        status=order.status.value,
        delivered_at=order.delivered_at,
        refunded_amount=refunded,
        net_amount=max((order.amount or 0) - refunded, 0) if kept else 0,
    )


def add_to_totals(totals: dict[str, CurrencyTotals], row: ReconciliationRow) -> None:
    found = totals.setdefault(row.currency or NO_CURRENCY, CurrencyTotals())
    found.orders += 1
    found.amount += row.amount or 0
    found.refunded_amount += row.refunded_amount
    found.net_amount += row.net_amount


def range_problem(start: datetime, end: datetime) -> str | None:
    """Why ``[start, end)`` is not a range a report covers (None: it is)."""
    if start >= end:
        return "'from' must be before 'to'"
    if end - start > MAX_RANGE:
        return f"a report covers at most {MAX_RANGE.days} days"
    return None


def spreadsheet_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a leading
    apostrophe (OWASP's advice for CSV injection)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return wire_timestamp(value)
    return spreadsheet_safe(str(value))


def csv_lines(rows: Iterable[ReconciliationRow]) -> str:
    """Rows as CSV lines (RFC 4180 quoting), without a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in ReconciliationRow.model_fields])
    return out.getvalue()


def csv_header() -> str:
    return ",".join(COLUMNS) + "\r\n"
