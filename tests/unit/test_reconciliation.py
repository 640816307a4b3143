"""Reconciliation rows, totals and the CSV form, without a database."""

import csv
import io
from datetime import timedelta

import pytest

from schemas.api import CurrencyTotals
from schemas.order import OrderStatus, ReturnStatus
from services.domain.reconciliation import (
    COLUMNS,
    add_to_totals,
    csv_header,
    csv_lines,
    range_problem,
    reconciliation_row,
    spreadsheet_safe,
)
from tests.factories import NOW, a_return, order


def test_only_refunded_returns_count_and_net_is_what_the_merchant_keeps() -> None:
    delivered = order(
        OrderStatus.DELIVERED,
        delivered_days_ago=2,
        returns=[
            a_return("r1", ReturnStatus.REFUNDED, 2),  # 2 x 1000
            a_return("r2", ReturnStatus.REJECTED, 1),
            a_return("r3", ReturnStatus.PENDING_PICKUP, 1),
        ],
    )
    row = reconciliation_row(delivered)
    assert (row.amount, row.refunded_amount, row.net_amount) == (4500, 2000, 2500)
    assert row.delivered_at == NOW - timedelta(days=2)


@pytest.mark.parametrize("status", [OrderStatus.CANCELED_BY_CUSTOMER, OrderStatus.CHECKOUT_NOT_PAID])
def test_failed_and_canceled_orders_keep_nothing_but_show_the_checkouts_amount(status: OrderStatus) -> None:
    row = reconciliation_row(order(status))
    assert (row.amount, row.refunded_amount, row.net_amount) == (4500, 0, 0)


def test_totals_are_per_currency() -> None:
    totals: dict[str, CurrencyTotals] = {}
    rows = [
        reconciliation_row(order(OrderStatus.CREATED, id="a")),
        reconciliation_row(order(OrderStatus.CANCELED_BY_MERCHANT, id="b")),
        reconciliation_row(order(OrderStatus.CREATED, id="c", currency="USD", amount=100)),
    ]
    for row in rows:
        add_to_totals(totals, row)
    dumped = {currency: t.model_dump(by_alias=True) for currency, t in totals.items()}
    assert dumped == {
        "EGP": {"orders": 2, "amount": 9000, "refundedAmount": 0, "netAmount": 4500},
        "USD": {"orders": 1, "amount": 100, "refundedAmount": 0, "netAmount": 100},
    }


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_could_run_as_a_formula_is_text(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("PAY-1=2") == "PAY-1=2"


def test_the_csv_has_the_contracts_columns_quotes_what_needs_it_and_no_totals_row() -> None:
    rows = [reconciliation_row(order(OrderStatus.CREATED, payment_reference='=cmd|" /C calc"!A0, "x"'))]
    parsed = list(csv.reader(io.StringIO(csv_header() + csv_lines(rows))))
    assert parsed[0] == list(COLUMNS)
    assert len(parsed) == 2
    assert parsed[1][2] == '\'=cmd|" /C calc"!A0, "x"'
    assert parsed[1][0] == "o1"
    assert parsed[1][1].endswith("Z")


def test_a_report_covers_a_forward_range_of_at_most_a_year() -> None:
    assert range_problem(NOW, NOW) is not None
    assert range_problem(NOW, NOW - timedelta(seconds=1)) is not None
    assert range_problem(NOW, NOW + timedelta(days=367)) is not None
    assert range_problem(NOW, NOW + timedelta(days=366)) is None


def test_an_orders_export_line_is_the_order_without_its_returns() -> None:
    record = order(OrderStatus.DELIVERED, delivered_days_ago=1, returns=[a_return("r1", ReturnStatus.REFUNDED, 1)])
    assert record.order_json() == record.as_order().model_dump_json()
    assert "returns" not in record.order_json()
