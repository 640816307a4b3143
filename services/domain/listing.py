"""Which list queries the hourly tallies (``tallies.py``) can answer, and how: the count of
an hour wholly inside the query's ``createdAt`` range comes from its tally, an hour the
range cuts is read and counted order by order, and a page reads only the hours it
overlaps. Plain functions, no I/O."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import ge, gt, le, lt
from typing import Any

from schemas.base import as_stored
from schemas.order import OrderStatus
from services.domain.queries import Condition, OrderQuery, expand_status
from services.domain.tallies import HOUR, HourTally, Slot

ALL_STATUSES = frozenset(s.value for s in OrderStatus)
_STORED_STEP = timedelta(milliseconds=1)
"""``createdAt`` is stored to the millisecond: the last moment of a stretch it can hold is a
millisecond before its end."""
_COMPARISONS: dict[str, Callable[[datetime, datetime], bool]] = {"gt": gt, "gte": ge, "lt": lt, "lte": le}


@dataclass(frozen=True)
class TalliedQuery:
    """A query on one merchant's orders by status, amount and ``createdAt`` ranges, sorted by
    ``createdAt``. Either statuses or amounts, not both: tallies count each by hour, not
    the two together."""

    statuses: frozenset[str] | None
    amount_low: int | None
    amount_high: int | None
    created: tuple[Condition, ...]

    @classmethod
    def of(cls, query: OrderQuery) -> "TalliedQuery | None":
        """The tallied form of ``query``, or None when tallies cannot count it."""
        if query.sort_field != "createdAt":
            return None
        statuses: frozenset[str] | None = None
        low: int | None = None
        high: int | None = None
        created: list[Condition] = []
        for condition in query.conditions:
            field, operator = condition.field, condition.operator
            if field == "status":
                named = frozenset(child for value in condition.values for child in expand_status(str(value)))
                chosen = named if operator in ("eq", "in") else ALL_STATUSES - named
                statuses = chosen if statuses is None else statuses & chosen
            elif field == "amount" and operator in ("eq", "gt", "gte", "lt", "lte"):
                value = condition.values[0]
                assert isinstance(value, int)
                if operator in ("eq", "gt", "gte"):
                    bound = value + 1 if operator == "gt" else value
                    low = bound if low is None else max(low, bound)
                if operator in ("eq", "lt", "lte"):
                    bound = value - 1 if operator == "lt" else value
                    high = bound if high is None else min(high, bound)
            elif field == "createdAt" and operator in ("gt", "gte", "lt", "lte"):
                created.append(condition)
            elif field != "merchantId":
                return None
        if statuses is not None and (low is not None or high is not None):
            return None
        return cls(statuses, low, high, tuple(created))

    @property
    def by_amount(self) -> bool:
        return self.amount_low is not None or self.amount_high is not None

    def count(self, tally: HourTally) -> int:
        """The orders of an hour wholly inside the ``createdAt`` range that match."""
        if self.by_amount:
            return tally.count_amounts(self.amount_low, self.amount_high)
        return tally.count(self.statuses)

    def covers(self, start: datetime, length: timedelta = HOUR) -> bool | None:
        """Whether the ``createdAt`` range holds all of the stretch ``[start, start + length)``
        (True), none of it (False), or part of it (None: an hour's orders must be read to be
        counted, a day's hours looked at one by one). Each bound keeps a half-line of
        moments, which holds all of a stretch when it holds both its first and last stored
        moment, and none of it when it holds neither."""
        last = start + length - _STORED_STEP
        whole = True
        for condition in self.created:
            first_in, last_in = _created_matches(start, condition), _created_matches(last, condition)
            if not first_in and not last_in:
                return False
            whole = whole and first_in and last_in
        return True if whole else None

    def matches(self, document: dict[str, Any]) -> bool:
        """Whether a stored order (its top-level fields) matches, as the database decides."""
        if self.statuses is not None and document["status"] not in self.statuses:
            return False
        if self.by_amount:
            amount = document.get("amount")
            if amount is None:
                return False
            if (self.amount_low is not None and amount < self.amount_low) or (
                self.amount_high is not None and amount > self.amount_high
            ):
                return False
        created: datetime = document["createdAt"]
        return all(_created_matches(created, condition) for condition in self.created)


def _created_matches(created: datetime, condition: Condition) -> bool:
    """Whether a stored ``createdAt`` meets a range condition, with its bound as BSON stores it."""
    bound = condition.values[0]
    assert isinstance(bound, datetime)
    return _COMPARISONS[condition.operator](created, as_stored(bound))


def slots_for(days: list[Slot], query: TalliedQuery, newest_first: bool) -> list[Slot]:
    """The stretches a page of ``query`` counts, in the list's order: each day the
    ``createdAt`` range holds wholly as one, the hours of a day it cuts one by one (those it
    misses left out), days it misses not at all."""
    ordered = list(reversed(days)) if newest_first else days
    slots: list[Slot] = []
    for day in ordered:
        whole = query.covers(day.start, day.length)
        if whole:
            slots.append(day)
        elif whole is None:
            hours = reversed(day.hours) if newest_first else day.hours
            slots.extend(hour for hour in hours if query.covers(hour.start) is not False)
    return slots


def hours_of(slots: list[Slot], newest_first: bool) -> list[Slot]:
    """The hours of ``slots`` (a day's, in the list's order), for a page to walk."""
    hours: list[Slot] = []
    for slot in slots:
        if slot.hours:
            hours.extend(reversed(slot.hours) if newest_first else slot.hours)
        else:
            hours.append(slot)
    return hours


def overlapping(counts: list[int], offset: int, size: int) -> tuple[list[int], int]:
    """Of slots holding ``counts`` matches each, in the list's order: the indices of those
    holding any of the matches ``[offset, offset + size)``, and how many matches come before
    the first of them."""
    chosen: list[int] = []
    before = 0
    seen = 0
    for index, count in enumerate(counts):
        if seen >= offset + size:
            break
        if count and seen + count > offset:
            if not chosen:
                before = seen
            chosen.append(index)
        seen += count
    return chosen, before
