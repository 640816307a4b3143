"""Tallies of a merchant's orders per day and hour: what a list page needs to know (how many
orders of each status, and their amounts) without reading the orders themselves.

A day's tally also keeps each of its orders' row (version and status), so that applying an
order's change is exact however often it comes (an event is delivered at least once, and
events of one order can come in a batch together): a change older than the row is
ignored, a newer one moves the order from its old status to its new one. An order's
``createdAt`` and amount never change, so its hour and its place among the amounts stay."""

import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import chain

from schemas.base import day_of
from schemas.order import Order

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def hour_start(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@dataclass(frozen=True)
class OrderChange:
    """An order as one of its events shows it: what a tally counts."""

    order_id: str
    merchant_id: str
    version: int
    status: str
    amount: int | None
    created_at: datetime

    @classmethod
    def of(cls, order: Order, version: int) -> "OrderChange":
        return cls(order.id, order.merchant_id, version, order.status.value, order.amount, order.created_at)

    @property
    def day_key(self) -> str:
        return day_key(self.merchant_id, day_of(self.created_at))


def day_key(merchant_id: str, day: str) -> str:
    return f"{merchant_id}|{day}"


@dataclass
class HourTally:
    statuses: dict[str, int] = field(default_factory=dict)
    amounts: list[int] = field(default_factory=list)
    """Sorted; an order without an amount is counted in ``statuses`` only."""

    def count(self, statuses: frozenset[str] | None = None) -> int:
        if statuses is None:
            return sum(self.statuses.values())
        return sum(n for status, n in self.statuses.items() if status in statuses)

    def count_amounts(self, low: int | None, high: int | None) -> int:
        """How many amounts lie in ``[low, high]`` (None: unbounded)."""
        start = 0 if low is None else bisect_left(self.amounts, low)
        end = len(self.amounts) if high is None else bisect_right(self.amounts, high)
        return max(end - start, 0)


@dataclass(frozen=True)
class Slot:
    """A stretch of a merchant's orders a list page counts at once: a day (with its hours, to
    be walked when the page falls in it) or an hour."""

    start: datetime
    length: timedelta
    tally: HourTally
    parts: Callable[[], dict[int, HourTally]] | None = field(default=None, compare=False, repr=False)
    """A day's hours by the hour they start, made when a page first walks them."""

    @cached_property
    def hours(self) -> tuple["Slot", ...]:
        hours = self.parts() if self.parts is not None else {}
        return tuple(Slot(self.start + timedelta(hours=h), HOUR, hours[h]) for h in sorted(hours))

    @classmethod
    def parsed_day(cls, start: datetime, hours_text: str, amounts_text: str | None = None) -> "Slot":
        """A stored day tally (``DayTally.hours_text``, and ``amounts_text`` when amounts are
        counted), its total made at once and its hours only when a page walks them: a page
        counts all of a merchant's days (a merchant's first page reads them all) and walks
        one or two."""
        parsed = json.loads(hours_text)
        names, counts = parsed["statuses"], parsed["hours"].values()
        statuses = {name: n for name, n in zip(names, map(sum, zip(*counts, strict=True)), strict=True) if n}
        amounts = json.loads(amounts_text).values() if amounts_text is not None else ()
        total = HourTally(statuses, sorted(chain.from_iterable(amounts)))
        return cls(start, DAY, total, lambda: parse_hours(hours_text, amounts_text))


@dataclass
class DayTally:
    hours: dict[int, HourTally] = field(default_factory=dict)
    rows: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Order id -> (version, status) of every order the tally counts."""

    def apply(self, change: OrderChange) -> bool:
        """Count ``change`` unless the tally has that version of the order, or a later one;
        whether it changed the tally."""
        row = self.rows.get(change.order_id)
        if row is not None and row[0] >= change.version:
            return False
        hour = self.hours.setdefault(change.created_at.astimezone(UTC).hour, HourTally())
        if row is None:
            if change.amount is not None:
                insort(hour.amounts, change.amount)
        else:
            left = hour.statuses[row[1]] - 1
            if left:
                hour.statuses[row[1]] = left
            else:
                del hour.statuses[row[1]]
        hour.statuses[change.status] = hour.statuses.get(change.status, 0) + 1
        self.rows[change.order_id] = (change.version, change.status)
        return True

    def hours_text(self) -> str:
        """The hours' counts by status, as compact JSON: list pages read every day of a
        merchant's, and FerretDB v1 returns stored text at about 50 MB/s, so bytes are what a
        page waits for. Each status is named once; an hour holds its counts in that order."""
        names = sorted({status for tally in self.hours.values() for status in tally.statuses})
        hours = {str(h): [t.statuses.get(name, 0) for name in names] for h, t in sorted(self.hours.items())}
        return json.dumps({"statuses": names, "hours": hours}, separators=(",", ":"))

    def amounts_text(self) -> str:
        """The hours' amounts: most of a tally's bytes, read only by lists filtered by amount."""
        return json.dumps({str(h): t.amounts for h, t in sorted(self.hours.items())}, separators=(",", ":"))

    def rows_text(self, order_ids: Iterable[str] | None = None) -> str:
        """The rows of ``order_ids`` (all if None)."""
        rows = self.rows if order_ids is None else {order_id: self.rows[order_id] for order_id in order_ids}
        return json.dumps(rows, separators=(",", ":"))

    @classmethod
    def parse(cls, hours_text: str, amounts_text: str, *rows_texts: str) -> "DayTally":
        """A tally from its texts; a later rows text's row of an order replaces an earlier's."""
        rows: dict[str, tuple[int, str]] = {}
        for rows_text in rows_texts:
            rows.update((order_id, (version, status)) for order_id, (version, status) in json.loads(rows_text).items())
        return cls(parse_hours(hours_text, amounts_text), rows)


def parse_hours(hours_text: str, amounts_text: str | None = None) -> dict[int, HourTally]:
    """The hours of a tally, with their amounts if ``amounts_text`` is given."""
    parsed = json.loads(hours_text)
    names = parsed["statuses"]
    amounts = json.loads(amounts_text) if amounts_text is not None else {}
    return {
        int(h): HourTally({name: n for name, n in zip(names, counts, strict=True) if n}, amounts.get(h, []))
        for h, counts in parsed["hours"].items()
    }


def by_day(changes: Iterable[OrderChange]) -> dict[str, list[OrderChange]]:
    """Changes grouped by the day (of their merchant) they count in, each day's in version
    order, so that a batch holding several changes of one order ends at its latest."""
    grouped: dict[str, list[OrderChange]] = {}
    for change in sorted(changes, key=lambda c: c.version):
        grouped.setdefault(change.day_key, []).append(change)
    return grouped
