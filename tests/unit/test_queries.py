"""The GET /orders query parser: strict, typed, and separate from the database."""

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domain.queries import Condition, QueryError, parse_order_query
from services.order_writer.queries import order_filter, page_of


def parse(*params: tuple[str, str], admin: bool = False) -> tuple[Condition, ...]:
    return parse_order_query(list(params), admin=admin).conditions


def test_defaults() -> None:
    query = parse_order_query([], admin=False)
    assert (query.page, query.page_size, query.sort_field, query.sort_direction) == (1, 25, "createdAt", -1)
    assert not query.includes_returns


def test_operators_and_types() -> None:
    assert parse(("filter.amount", "$gt:10000")) == (Condition("amount", "gt", (10000,)),)
    assert parse(("filter.status", "$in:success,pending")) == (Condition("status", "in", ("success", "pending")),)
    assert parse(("filter.idempotencyKey", "$in:key1,key2")) == (Condition("idempotencyKey", "in", ("key1", "key2")),)
    assert parse(("filter.createdAt", "$gte:2014-11-12T15:30:06+00:00")) == (
        Condition("createdAt", "gte", (datetime(2014, 11, 12, 15, 30, 6, tzinfo=UTC),)),
    )
    # an unencoded '+' arrives as a space
    assert parse(("filter.createdAt", "$lt:2014-11-12T15:30:06 00:00"))[0].values[0] == datetime(
        2014, 11, 12, 15, 30, 6, tzinfo=UTC
    )
    assert parse(("filter.userId", "$eq:$where"))[0].values == ("$where",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("filter.amount", "$where:1"),
        ("filter.$where", "1"),
        ("filter.meta.x", "1"),
        ("filter.id[$ne]", "x"),
        ("filter.userId", "$regex:.*"),
        ("filter.userId", "$gt:a"),
        ("filter.userId", "$where"),
        ("filter.userId", ""),
        ("filter.status", "pending.nope"),
        ("filter.amount", "ten"),
        ("filter.amount", "12\n"),
        ("filter.amount", "1" * 19),
        ("filter.createdAt", "yesterday"),
        ("filter.merchantId", "m1"),
        ("filter.idempotencyKey", "$in:" + ",".join(str(i) for i in range(101))),
        ("filter.userId", "x" * 256),
        ("page", "0"),
        ("page", "1.5"),
        ("pageSize", "101"),
        ("sort", "userId"),
        ("sort", "-_id"),
        ("limit", "5"),
        ("page", "100000"),
    ],
)
def test_refused_with_the_parameter_named(name: str, value: str) -> None:
    with pytest.raises(QueryError) as raised:
        parse_order_query([(name, value)], admin=False)
    assert raised.value.parameter == name


def test_repeated_parameter_is_refused() -> None:
    with pytest.raises(QueryError):
        parse_order_query([("filter.userId", "a"), ("filter.userId", "b")], admin=False)


def test_merchant_filter_is_for_admins() -> None:
    assert parse(("filter.merchantId", "m1"), admin=True) == (Condition("merchantId", "eq", ("m1",)),)


def test_returns_only_with_id_or_idempotency_key() -> None:
    assert parse_order_query([("filter.id", "x")], admin=False).includes_returns
    assert parse_order_query([("filter.idempotencyKey", "$in:a,b")], admin=False).includes_returns
    assert not parse_order_query([("filter.userId", "x")], admin=False).includes_returns


def test_mongo_filter_expands_parent_statuses_and_scopes_the_merchant() -> None:
    query = parse_order_query(
        [("filter.status", "$in:success,pending.created"), ("filter.amount", "$lte:5")], admin=False
    )
    assert order_filter(query, "m1") == {
        "merchantId": "m1",
        "status": {"$in": ["success.delivered", "pending.created"]},
        "amount": {"$lte": 5},
    }
    assert order_filter(parse_order_query([("filter.status", "canceled")], admin=False), None) == {
        "status": {"$in": ["canceled.merchant", "canceled.customer"]}
    }
    assert order_filter(parse_order_query([("filter.status", "$ne:failed")], admin=False), None)["status"]["$nin"][
        0
    ] == ("failed.checkout_not_found")


def test_admin_merchant_filter_cannot_widen_a_merchant_scope() -> None:
    query = parse_order_query([("filter.merchantId", "m2")], admin=True)
    assert order_filter(query, "m1") == {"$and": [{"merchantId": "m1"}, {"merchantId": {"$eq": "m2"}}]}


def test_an_exports_first_day_comes_from_the_latest_lower_bound_on_created_at() -> None:
    query = parse_order_query(
        [
            ("filter.createdAt", "$gte:2026-01-02T00:00:00Z"),
            ("filter.merchantId", "m2"),
            ("filter.userId", "$in:u1,u2"),
        ],
        admin=True,
    )
    assert query.created_after() == datetime(2026, 1, 2, tzinfo=UTC)
    assert query.equal_to("merchantId") == "m2"
    assert query.equal_to("userId") is None  # a list names no one value
    assert parse_order_query([("filter.createdAt", "$lt:2026-01-02T00:00:00Z")], admin=False).created_after() is None


def test_orders_named_by_an_indexed_equality_are_narrow_and_others_are_not() -> None:
    assert parse_order_query([("filter.userId", "u1"), ("filter.status", "success")], admin=False).is_narrow
    assert parse_order_query([("filter.idempotencyKey", "$in:k1,k2")], admin=False).is_narrow
    assert not parse_order_query([("filter.userId", "$ne:u1")], admin=False).is_narrow
    assert not parse_order_query([("filter.status", "success")], admin=False).is_narrow
    assert not parse_order_query([], admin=False).is_narrow


def test_a_page_read_in_the_process_is_sorted_as_the_database_sorts() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    documents = [
        {"id": "b", "createdAt": at, "amount": 5},
        {"id": "a", "createdAt": at, "amount": None},
        {"id": "c", "createdAt": at.replace(day=2), "amount": 7},
        {"id": "d", "createdAt": at.replace(day=3)},
    ]

    def ids(*params: tuple[str, str]) -> list[str]:
        return [d["id"] for d in page_of(documents, parse_order_query(list(params), admin=False))]

    assert ids() == ["d", "c", "b", "a"]  # newest first, ties by id, descending too
    assert ids(("sort", "createdAt")) == ["a", "b", "c", "d"]
    assert ids(("sort", "amount")) == ["a", "d", "b", "c"]  # a missing or null amount first
    assert ids(("sort", "-amount")) == ["c", "b", "d", "a"]
    assert ids(("pageSize", "3"), ("page", "2")) == ["a"]
    assert ids(("pageSize", "3"), ("page", "3")) == []


# --- property: the parser agrees with a deliberately plain reference -------------------

FIELDS = {
    "id": "s",
    "userId": "s",
    "idempotencyKey": "s",
    "checkoutId": "s",
    "paymentReference": "s",
    "currency": "s",
    "status": "status",
    "merchantId": "s",
    "amount": "int",
}
STATUSES = {
    "pending", "success", "canceled", "failed", "pending.created", "pending.confirmed", "pending.shipped",
    "success.delivered", "canceled.merchant", "canceled.customer", "failed.checkout_not_found",
    "failed.checkout_not_paid", "failed.checkout_expired", "failed.checkout_already_ordered",
}  # fmt: skip
OPS = {"eq", "ne", "in", "nin", "gt", "gte", "lt", "lte"}


def reference(field: str, value: str, admin: bool) -> tuple[str, str, tuple[object, ...]] | None:
    kind = FIELDS.get(field)
    if kind is None or (field == "merchantId" and not admin):
        return None
    op, rest = "eq", value
    if value.startswith("$"):
        if ":" not in value:
            return None
        op, rest = value[1 : value.index(":")], value[value.index(":") + 1 :]
        if op not in OPS:
            return None
    if op in {"gt", "gte", "lt", "lte"} and kind != "int":
        return None
    items = rest.split(",") if op in {"in", "nin"} else [rest]
    if len(items) > 100:
        return None
    parsed: list[object] = []
    for item in items:
        if kind == "int":
            digits = item[1:] if item.startswith("-") else item
            if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) <= 18):
                return None
            parsed.append(int(item))
        else:
            if not 1 <= len(item) <= 255 or (kind == "status" and item not in STATUSES):
                return None
            if "\x00" in item or any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):  # no store holds them
                return None
            parsed.append(item)
    return field, op, tuple(parsed)


field_names = st.one_of(
    st.sampled_from(["amount", "status", "userId"]),
    st.sampled_from([*FIELDS, "meta.x", "$where", "id[$ne]", "Amount", "", "createdAt.x"]),
)
operators = st.sampled_from(
    ["", "$eq:", "$ne:", "$in:", "$nin:", "$gt:", "$lte:", "$where:", "$regex:", "$IN:", "$:", "$"]
)
atoms = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.from_regex(r"-?[0-9]{1,20}[\n a]?", fullmatch=True),
    st.sampled_from([*sorted(STATUSES), "pending.nope", "", "$where", "a,b", "\n", "12\n", "１２"]),
    st.text(max_size=12),
)
values = st.tuples(operators, st.lists(atoms, min_size=1, max_size=4)).map(lambda t: t[0] + ",".join(t[1]))


@settings(max_examples=600, deadline=None)
@given(field=field_names, value=values, admin=st.booleans())
def test_parser_agrees_with_reference(field: str, value: str, admin: bool) -> None:
    expected = reference(field, value, admin)
    if expected is None:
        with pytest.raises(QueryError) as raised:
            parse_order_query([("filter." + field, value)], admin=admin)
        assert raised.value.parameter == "filter." + field
        return
    conditions = parse_order_query([("filter." + field, value)], admin=admin).conditions
    assert (conditions[0].field, conditions[0].operator, conditions[0].values) == expected


@settings(max_examples=300, deadline=None)
@given(field=field_names, value=values, admin=st.booleans())
def test_no_client_text_becomes_an_operator_or_a_field(field: str, value: str, admin: bool) -> None:
    """Whatever is accepted turns into a filter whose keys and operators are all ours."""
    try:
        query = parse_order_query([("filter." + field, value)], admin=admin)
    except QueryError:
        return
    criteria = order_filter(query, "m1")
    allowed_ops = {"$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"}
    for key, clause in criteria.items():
        if key == "$and":
            continue
        assert key in FIELDS or key in ("createdAt", "_id")
        if isinstance(clause, dict):
            assert set(clause) <= allowed_ops
