"""GET /orders query parameters -> a typed query, or an error naming the parameter.

Strict by design: only whitelisted fields and operators pass, every value is typed, and
nothing a client sends becomes a database operator or field name."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from schemas.order import OrderStatus
from schemas.values import text_problem

FieldKind = Literal["string", "status", "integer", "datetime"]
Scalar = str | int | datetime

FILTER_FIELDS: dict[str, FieldKind] = {
    "id": "string",
    "userId": "string",
    "idempotencyKey": "string",
    "checkoutId": "string",
    "paymentReference": "string",
    "currency": "string",
    "status": "status",
    "merchantId": "string",
    "amount": "integer",
    "createdAt": "datetime",
}
ADMIN_ONLY_FIELDS = frozenset({"merchantId"})
NARROW_FIELDS = frozenset({"id", "idempotencyKey", "userId", "checkoutId", "paymentReference"})
"""Fields an indexed equality on which names few orders (one, or one user's)."""
EQUALITY_OPERATORS = frozenset({"eq", "ne", "in", "nin"})
RANGE_OPERATORS = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPERATORS = frozenset({"in", "nin"})
ORDERED_KINDS = frozenset({"integer", "datetime"})
SORTS: dict[str, tuple[str, Literal[1, -1]]] = {
    "createdAt": ("createdAt", 1),
    "-createdAt": ("createdAt", -1),
    "amount": ("amount", 1),
    "-amount": ("amount", -1),
}
STATUS_PARENTS = frozenset(status.value.split(".")[0] for status in OrderStatus)

MAX_LIST_VALUES = 100
MAX_VALUE_LENGTH = 255
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 25
MAX_OFFSET = 100_000
"""Deep pages cost the database a scan: past this many skipped orders, narrow the filter."""

_OPERATOR = re.compile(r"\$([a-z]+):(.*)", re.DOTALL)
_INTEGER = re.compile(r"-?[0-9]{1,18}")


class QueryError(ValueError):
    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter
        self.detail = detail


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class OrderQuery:
    conditions: tuple[Condition, ...] = ()
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    sort_field: str = "createdAt"
    sort_direction: Literal[1, -1] = -1

    def equal_to(self, field: str) -> Scalar | None:
        """The one value an ``eq`` condition on ``field`` asks for, if there is one."""
        for condition in self.conditions:
            if condition.field == field and condition.operator == "eq" and len(condition.values) == 1:
                return condition.values[0]
        return None

    def created_after(self) -> datetime | None:
        """The latest lower bound the conditions put on ``createdAt`` (None: none)."""
        bounds = [
            value
            for condition in self.conditions
            if condition.field == "createdAt" and condition.operator in ("eq", "gt", "gte")
            for value in condition.values
            if isinstance(value, datetime)
        ]
        return max(bounds, default=None)

    @property
    def is_narrow(self) -> bool:
        """Whether an equality (or a list of them) on a ``NARROW_FIELDS`` field names the
        orders: few enough, as a rule, to read all and page in the process."""
        return any(c.field in NARROW_FIELDS and c.operator in ("eq", "in") for c in self.conditions)

    @property
    def includes_returns(self) -> bool:
        """Returns are shown only when the query names orders by id or idempotency key."""
        return any(c.field in ("id", "idempotencyKey") for c in self.conditions)


def expand_status(value: str) -> tuple[str, ...]:
    """A parent status stands for all its children; a full status for itself."""
    if value in STATUS_PARENTS:
        return tuple(s.value for s in OrderStatus if s.value.startswith(value + "."))
    return (value,)


def parse_order_query(params: Sequence[tuple[str, str]], *, admin: bool) -> OrderQuery:
    seen: set[str] = set()
    conditions: list[Condition] = []
    page, page_size, sort = 1, DEFAULT_PAGE_SIZE, "-createdAt"
    for name, raw in params:
        if name in seen:
            raise QueryError(name, "given more than once")
        seen.add(name)
        if name == "page":
            page = _parse_bounded_int(name, raw, 1, None)
        elif name == "pageSize":
            page_size = _parse_bounded_int(name, raw, 1, MAX_PAGE_SIZE)
        elif name == "sort":
            if raw not in SORTS:
                raise QueryError(name, f"must be one of {', '.join(SORTS)}")
            sort = raw
        elif name.startswith("filter."):
            conditions.append(_parse_condition(name, name.removeprefix("filter."), raw, admin=admin))
        else:
            raise QueryError(name, "unknown query parameter")
    if (page - 1) * page_size > MAX_OFFSET:
        raise QueryError("page", f"pages beyond {MAX_OFFSET} orders are not served; narrow the filter")
    sort_field, direction = SORTS[sort]
    return OrderQuery(tuple(conditions), page, page_size, sort_field, direction)


def _parse_condition(parameter: str, field: str, raw: str, *, admin: bool) -> Condition:
    kind = FILTER_FIELDS.get(field)
    if kind is None or (field in ADMIN_ONLY_FIELDS and not admin):
        raise QueryError(parameter, "unknown filter field")
    operator, operand = "eq", raw
    if raw.startswith("$"):
        match = _OPERATOR.fullmatch(raw)
        if match is None:
            raise QueryError(parameter, "a value starting with '$' must be '$<operator>:<value>'")
        operator, operand = match.group(1), match.group(2)
    if operator not in EQUALITY_OPERATORS and not (operator in RANGE_OPERATORS and kind in ORDERED_KINDS):
        raise QueryError(parameter, f"operator ${operator} is not supported for {field}")
    texts = operand.split(",") if operator in LIST_OPERATORS else [operand]
    if len(texts) > MAX_LIST_VALUES:
        raise QueryError(parameter, f"at most {MAX_LIST_VALUES} values")
    return Condition(field, operator, tuple(_parse_value(parameter, kind, text) for text in texts))


def _parse_value(parameter: str, kind: FieldKind, text: str) -> Scalar:
    if kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise QueryError(parameter, f"{text!r} is not an integer")
        return int(text)
    if kind == "datetime":
        return _parse_datetime(parameter, text)
    if not 1 <= len(text) <= MAX_VALUE_LENGTH:
        raise QueryError(parameter, f"values must be 1 to {MAX_VALUE_LENGTH} characters")
    if problem := text_problem(text):
        raise QueryError(parameter, f"values {problem}")
    if kind == "status" and text not in STATUS_PARENTS and text not in OrderStatus._value2member_map_:
        raise QueryError(parameter, f"unknown status {text!r}")
    return text


def _parse_datetime(parameter: str, text: str) -> datetime:
    # A '+' of an offset arrives as a space when the client did not percent-encode it.
    for candidate in (text, text.replace(" ", "+")):
        try:
            value = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        try:
            # In UTC, as the database compares it; an offset can push it past year 1 or 9999.
            return value.replace(tzinfo=value.tzinfo or UTC).astimezone(UTC)
        except OverflowError:
            raise QueryError(parameter, f"{text!r} is outside the years 1 to 9999 in UTC") from None
    raise QueryError(parameter, f"{text!r} is not an ISO 8601 date-time")


def _parse_bounded_int(parameter: str, raw: str, low: int, high: int | None) -> int:
    if not _INTEGER.fullmatch(raw) or int(raw) < low or (high is not None and int(raw) > high):
        bound = f"from {low} to {high}" if high is not None else f"from {low}"
        raise QueryError(parameter, f"must be an integer {bound}")
    return int(raw)
