"""Date ranges in the store's time zone (`app.analytics.periods`): what `from`, `to`,
`interval` and the presets name, and the reasons input is refused. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from app.analytics.periods import PeriodError, parse_period, preset_of

SYDNEY = ZoneInfo("Australia/Sydney")
NEW_YORK = ZoneInfo("America/New_York")
TODAY = date(2026, 12, 7)  # a Monday


def test_without_dates_the_period_is_the_last_30_days_by_day():
    period = parse_period(NEW_YORK, today=TODAY)

    assert (period.first_day, period.last_day) == (date(2026, 11, 8), TODAY)
    assert period.days == 30 and period.interval == "day"


@pytest.mark.parametrize(("preset", "first", "last", "interval"), [
    ("today", date(2026, 12, 7), date(2026, 12, 7), "day"),
    ("yesterday", date(2026, 12, 6), date(2026, 12, 6), "day"),
    ("last_7_days", date(2026, 12, 1), date(2026, 12, 7), "day"),
    ("last_90_days", date(2026, 9, 9), date(2026, 12, 7), "week"),
    ("last_12_months", date(2025, 12, 8), date(2026, 12, 7), "month"),
    ("this_year", date(2026, 1, 1), date(2026, 12, 7), "month"),
])
def test_presets_name_days_up_to_today(preset, first, last, interval):
    period = parse_period(NEW_YORK, preset=preset, today=TODAY)

    assert (period.first_day, period.last_day, period.interval) == (first, last, interval)
    assert preset_of(period, TODAY) == preset


def test_a_preset_wins_over_the_dates_the_picker_still_shows():
    period = parse_period(NEW_YORK, preset="last_7_days", first="2020-01-01",
                          last="2020-02-01", today=TODAY)

    assert period.first_day == date(2026, 12, 1)


def test_dates_are_the_stores_calendar_days_as_utc_instants():
    # Sydney is UTC+11 in December (daylight time) and UTC+10 in June
    december = parse_period(SYDNEY, first="2026-12-01", last="2026-12-01", today=TODAY)
    june = parse_period(SYDNEY, first="2026-06-01", last="2026-06-30", today=TODAY)

    assert december.start == datetime(2026, 11, 30, 13, tzinfo=UTC)
    assert december.end == datetime(2026, 12, 1, 13, tzinfo=UTC)
    assert (june.start, june.end) == (datetime(2026, 5, 31, 14, tzinfo=UTC),
                                      datetime(2026, 6, 30, 14, tzinfo=UTC))


def test_only_from_runs_to_today_and_the_interval_follows_the_length():
    period = parse_period(NEW_YORK, first="2026-10-01", today=TODAY)

    assert (period.last_day, period.days, period.interval) == (TODAY, 68, "week")


def test_month_buckets_start_on_the_first_and_cover_the_period():
    period = parse_period(NEW_YORK, first="2026-01-15", last="2026-03-02", interval="month",
                          today=TODAY)

    assert period.buckets() == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


@pytest.mark.parametrize(("params", "field", "reason"), [
    ({"first": "yesterday"}, "from", "from must be a date written YYYY-MM-DD, got 'yesterday'"),
    ({"first": "20261201"}, "from", "from must be a date written YYYY-MM-DD, got '20261201'"),
    ({"first": "2026-02-30"}, "from", "from must be a date written YYYY-MM-DD"),
    ({"first": "2026-12-01", "last": "2026-13-01"}, "to", "to must be a date written"),
    ({"first": "0001-01-01"}, "from", "from must be between 1970-01-01 and 2999-12-31"),
    ({"first": "2026-12-01", "last": "9999-12-31"}, "to", "to must be between"),
    ({"first": "2026-12-05", "last": "2026-12-01"}, "to",
     "to (2026-12-01) is before from (2026-12-05)"),
    ({"first": "2021-12-01", "last": "2026-12-01"}, "from", "longer than 5 years"),
    ({"last": "2026-12-01"}, "from", "from is required"),
    ({"preset": "custom"}, "from", "from is required"),
    ({"preset": "last_week"}, "range", "range must be one of today, yesterday"),
    ({"interval": "hour"}, "interval", "interval must be one of day, week, month, got 'hour'"),
])
def test_bad_input_names_the_field_and_the_reason(params, field, reason):
    with pytest.raises(PeriodError) as refused:
        parse_period(NEW_YORK, today=TODAY, **params)

    assert refused.value.field == field
    assert reason in refused.value.message


def test_five_years_to_the_day_is_the_longest_range():
    period = parse_period(NEW_YORK, first="2021-12-02", last="2026-12-01", today=TODAY)

    assert period.days == 1826 and period.interval == "month"


def test_the_previous_period_has_the_same_length_just_before():
    period = parse_period(NEW_YORK, first="2026-03-01", last="2026-03-31", today=TODAY)

    previous = period.previous()
    assert (previous.first_day, previous.last_day) == (date(2026, 1, 29), date(2026, 2, 28))
    assert previous.days == period.days
