"""Day tallies (exact however often and in whatever order changes come) and the list
queries they answer, without a database."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.order import OrderStatus
from services.domain.listing import TalliedQuery, hours_of, overlapping, slots_for
from services.domain.queries import Condition, expand_status, parse_order_query
from services.domain.tallies import DayTally, HourTally, OrderChange, Slot, by_day, hour_start

STATUSES = [s.value for s in OrderStatus]
DAY = datetime(2026, 11, 28, tzinfo=UTC)


def change(order: int, version: int, status: str, *, hour: int = 6, amount: int | None = 100) -> OrderChange:
    return OrderChange(f"o{order}", "m1", version, status, amount, DAY + timedelta(hours=hour, minutes=order % 60))


def tally_of(changes: list[OrderChange]) -> DayTally:
    tally = DayTally()
    for c in changes:
        tally.apply(c)
    return tally


def test_a_change_moves_its_order_from_its_old_status_and_a_repeated_or_older_one_changes_nothing() -> None:
    tally = tally_of([change(1, 1, "pending"), change(2, 1, "pending", amount=300)])
    assert tally.apply(change(1, 2, "success"))
    assert not tally.apply(change(1, 2, "success"))
    assert not tally.apply(change(1, 1, "pending"))
    hour = tally.hours[6]
    assert hour.statuses == {"pending": 1, "success": 1}
    assert hour.amounts == [100, 300]
    assert hour.count(frozenset({"success"})) == 1
    assert hour.count_amounts(101, None) == 1


def test_a_tally_survives_its_texts() -> None:
    tally = tally_of([change(1, 1, "pending"), change(2, 3, "canceled", hour=23, amount=None)])
    again = DayTally.parse(tally.hours_text(), tally.amounts_text(), tally.rows_text())
    assert again == tally
    assert again.hours[23].amounts == []


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(STATUSES), st.integers(0, 23), st.none() | st.integers(0, 10**6)),
        max_size=30,
    )
)
def test_a_day_read_from_its_texts_counts_as_the_day_it_was_made_from(
    orders: list[tuple[str, int, int | None]],
) -> None:
    tally = tally_of(
        [change(n, 1, status, hour=hour, amount=amount) for n, (status, hour, amount) in enumerate(orders)]
    )
    start = hour_start("2026-11-28", 0)
    made = [(start + timedelta(hours=h), t) for h, t in sorted(tally.hours.items())]
    for amounts_text in (None, tally.amounts_text()):
        read = Slot.parsed_day(start, tally.hours_text(), amounts_text)
        assert read.tally.statuses == Counter(status for status, _, _ in orders)
        assert read.tally.amounts == (sorted(a for _, _, a in orders if a is not None) if amounts_text else [])
        assert [(h.start, h.tally.statuses) for h in read.hours] == [(at, t.statuses) for at, t in made]
        if amounts_text:
            assert [h.tally.amounts for h in read.hours] == [t.amounts for _, t in made]


orders_changes = st.lists(
    st.tuples(st.integers(0, 5), st.integers(1, 4), st.sampled_from(STATUSES), st.integers(0, 23)),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(orders_changes, st.randoms(use_true_random=False), st.integers(1, 3))
def test_a_tally_counts_each_orders_latest_change_once_whatever_the_order_and_repeats(
    raw: list[tuple[int, int, str, int]], rng: object, repeats: int
) -> None:
    """Events come at least once, and a batch may hold several of one order in any place:
    the tally equals one built from each order's latest change alone."""
    hour_of_order = {order: hour for order, _, _, hour in raw}
    changes = {
        (order, version): change(order, version, status, hour=hour_of_order[order]) for order, version, status, _ in raw
    }
    delivered = list(changes.values()) * repeats
    rng.shuffle(delivered)  # type: ignore[attr-defined]
    latest: dict[str, OrderChange] = {}
    for c in changes.values():
        if c.order_id not in latest or c.version > latest[c.order_id].version:
            latest[c.order_id] = c
    expected = tally_of(list(latest.values()))
    got = DayTally()
    for day_changes in by_day(delivered).values():
        for c in day_changes:
            got.apply(c)
    assert {h: t.statuses for h, t in got.hours.items() if t.statuses} == {
        h: t.statuses for h, t in expected.hours.items() if t.statuses
    }
    assert {h: t.amounts for h, t in got.hours.items() if t.amounts} == {
        h: t.amounts for h, t in expected.hours.items() if t.amounts
    }
    assert got.rows == expected.rows


def tallied(*params: tuple[str, str]) -> TalliedQuery | None:
    return TalliedQuery.of(parse_order_query(list(params), admin=True))


def test_tallies_answer_status_amount_and_created_at_queries_sorted_by_creation_and_no_others() -> None:
    assert tallied() == TalliedQuery(None, None, None, ())
    by_status = tallied(("filter.status", "$in:success,canceled"))
    assert by_status is not None
    assert by_status.statuses == frozenset({*expand_status("success"), *expand_status("canceled")})
    not_pending = tallied(("filter.status", "$ne:pending"))
    assert not_pending is not None
    assert not_pending.statuses is not None
    assert not_pending.statuses == set(STATUSES) - {s for s in STATUSES if s.startswith("pending")}
    by_amount = tallied(("filter.amount", "$gt:500"), ("filter.createdAt", "$gte:2026-11-01T00:00:00Z"))
    assert by_amount is not None
    assert (by_amount.amount_low, by_amount.amount_high) == (501, None)
    assert tallied(("filter.merchantId", "m1"), ("sort", "createdAt")) is not None
    for params in [
        (("filter.status", "success"), ("filter.amount", "$gt:500")),
        (("sort", "-amount"),),
        (("filter.amount", "$in:1,2"),),
        (("filter.createdAt", "2026-11-01T00:00:00Z"),),
        (("filter.currency", "EUR"),),
        (("filter.userId", "u1"),),
    ]:
        assert tallied(*params) is None, params


moments = st.datetimes(min_value=datetime(2026, 11, 27), max_value=datetime(2026, 11, 29), timezones=st.just(UTC)).map(
    lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000)
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["gt", "gte", "lt", "lte"]), moments), min_size=1, max_size=2),
    st.integers(0, 47),
    st.lists(st.integers(0, 3_599_999), min_size=1, max_size=20),
)
def test_an_hour_the_range_covers_matches_wholly_one_it_misses_not_at_all(
    bounds: list[tuple[str, datetime]], hour: int, offsets_ms: list[int]
) -> None:
    query = TalliedQuery(None, None, None, tuple(Condition("createdAt", op, (at,)) for op, at in bounds))
    start = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(hours=hour)
    edges = [0, 3_599_999, *offsets_ms]
    matched = {query.matches({"status": "success", "createdAt": start + timedelta(milliseconds=ms)}) for ms in edges}
    covered = query.covers(start)
    if covered is True:
        assert matched == {True}
    elif covered is False:
        assert matched == {False}


def test_a_bound_between_milliseconds_is_compared_as_the_database_stores_it() -> None:
    at = DAY + timedelta(hours=6)
    query = TalliedQuery(None, None, None, (Condition("createdAt", "gt", (at + timedelta(microseconds=500),)),))
    assert not query.matches({"status": "success", "createdAt": at})
    assert query.matches({"status": "success", "createdAt": at + timedelta(milliseconds=1)})
    assert query.covers(hour_start("2026-11-28", 6)) is None


def test_a_page_reads_only_the_hours_it_overlaps() -> None:
    counts = [3, 0, 4, 2, 5]
    assert overlapping(counts, 0, 2) == ([0], 0)
    assert overlapping(counts, 2, 3) == ([0, 2], 0)
    assert overlapping(counts, 3, 4) == ([2], 3)
    assert overlapping(counts, 7, 25) == ([3, 4], 7)
    assert overlapping(counts, 14, 25) == ([], 0)
    assert overlapping([], 0, 25) == ([], 0)


def test_an_hour_counts_statuses_or_amounts() -> None:
    hour = HourTally({"success": 2, "canceled": 1}, [10, 20, 30])
    assert TalliedQuery(None, None, None, ()).count(hour) == 3
    assert TalliedQuery(frozenset({"canceled", "failed"}), None, None, ()).count(hour) == 1
    assert TalliedQuery(None, 20, None, ()).count(hour) == 2
    assert TalliedQuery(None, None, 19, ()).count(hour) == 1
    assert TalliedQuery(None, 20, 20, ()).count(hour) == 1


@pytest.mark.parametrize("operator", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("bound_ms", [-1, 0, 1, 3_599_998, 3_599_999, 3_600_000])
def test_an_hour_is_covered_or_missed_exactly_at_its_edges(operator: str, bound_ms: int) -> None:
    start = hour_start("2026-11-28", 6)
    query = TalliedQuery(
        None, None, None, (Condition("createdAt", operator, (start + timedelta(milliseconds=bound_ms),)),)
    )
    samples = [0, 1, bound_ms - 1, bound_ms, bound_ms + 1, 3_599_998, 3_599_999]
    matched = {
        query.matches({"status": "success", "createdAt": start + timedelta(milliseconds=ms)})
        for ms in samples
        if 0 <= ms < 3_600_000
    }
    expected = True if matched == {True} else False if matched == {False} else None
    assert query.covers(start) is expected


def test_a_page_counts_whole_days_at_once_and_walks_hours_only_where_the_range_cuts_a_day() -> None:
    each_day = tally_of([change(h, 1, "success", hour=h, amount=h) for h in (1, 5, 23)])
    days = [
        Slot.parsed_day(hour_start(day, 0), each_day.hours_text(), each_day.amounts_text())
        for day in ("2026-11-26", "2026-11-27", "2026-11-28")
    ]
    assert days[0].tally == HourTally({"success": 3}, [1, 5, 23])
    everything = TalliedQuery(None, None, None, ())
    assert slots_for(days, everything, newest_first=True) == days[::-1]
    since = TalliedQuery(None, None, None, (Condition("createdAt", "gte", (hour_start("2026-11-27", 5),)),))
    slots = slots_for(days, since, newest_first=False)
    assert [s.start for s in slots] == [hour_start("2026-11-27", 5), hour_start("2026-11-27", 23), days[2].start]
    assert [s.start for s in hours_of(slots[1:], newest_first=False)] == [
        hour_start("2026-11-27", 23),
        *(hour.start for hour in days[2].hours),
    ]
    assert [s.start for s in hours_of(days[2:], newest_first=True)] == [h.start for h in days[2].hours][::-1]
