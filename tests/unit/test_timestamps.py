"""Every time on the wire has one fixed-width UTC form, so string order is time order."""

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from schemas.api import WebhookAttemptView
from schemas.base import hour_of, wire_timestamp

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
)


def test_a_whole_second_keeps_its_milliseconds() -> None:
    assert wire_timestamp(datetime(2026, 11, 27, 18, 9, 8, tzinfo=UTC)) == "2026-11-27T18:09:08.000Z"
    assert wire_timestamp(datetime(2026, 11, 27, 18, 9, 8, 225000, tzinfo=UTC)) == "2026-11-27T18:09:08.225Z"


def test_an_offset_is_converted_to_utc() -> None:
    cairo = timezone(timedelta(hours=2))
    assert wire_timestamp(datetime(2026, 11, 27, 20, 9, 8, tzinfo=cairo)) == "2026-11-27T18:09:08.000Z"


def test_a_remembered_text_is_the_instants_whatever_spelling_came_first() -> None:
    cairo = timezone(timedelta(hours=2))
    in_cairo, naive = datetime(2026, 11, 27, 20, 9, 8, tzinfo=cairo), datetime(2026, 11, 27, 20, 9, 8)
    assert wire_timestamp(in_cairo) == "2026-11-27T18:09:08.000Z"
    assert wire_timestamp(in_cairo.astimezone(UTC)) == "2026-11-27T18:09:08.000Z"
    assert wire_timestamp(naive) == "2026-11-27T20:09:08.000Z"  # naive is UTC, not Cairo's
    assert hour_of(in_cairo) == "2026-11-27T18"


@given(st.lists(instants, min_size=2, max_size=20))
def test_string_order_is_time_order(times: list[datetime]) -> None:
    assert sorted(wire_timestamp(t) for t in times) == [wire_timestamp(t) for t in sorted(times)]


@given(instants)
def test_the_wire_form_reads_back_as_the_same_instant(instant: datetime) -> None:
    assert datetime.fromisoformat(wire_timestamp(instant)) == instant


def test_models_write_the_wire_form_and_keep_datetimes_for_mongodb() -> None:
    attempted_at = datetime(2026, 11, 27, 18, 9, 8, tzinfo=UTC)
    view = WebhookAttemptView(
        event_id="e",
        url="https://merchant.example/hook",
        attempt=1,
        attempted_at=attempted_at,
        status_code=200,
        duration_ms=1.0,
        error=None,
        outcome="delivered",
    )
    assert json.loads(view.model_dump_json())["attemptedAt"] == "2026-11-27T18:09:08.000Z"
    assert view.model_dump(mode="python")["attemptedAt"] == attempted_at
    assert WebhookAttemptView.model_validate_json(view.model_dump_json()) == view
