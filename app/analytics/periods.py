"""Date ranges for the store's figures: calendar dates in the store's time zone.

A merchant asks for "1 to 30 November" and means their own days, so a `Period` holds the
dates as given plus the UTC instants they start and end at in the store's zone, which is
what the queries compare `placed_at` with (half-open: `start <= t < end`). The same
module parses what a URL or a form says (`parse_period`), so `/api/metrics` and the
Dashboard page accept and refuse exactly the same input, with the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY, WEEK, MONTH = "day", "week", "month"
INTERVALS = (DAY, WEEK, MONTH)

# The presets of the range picker, in the order it shows them ("custom": the two dates).
PRESETS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "last_12_months": "Last 12 months",
    "this_year": "This year",
    "custom": "Custom",
}
DEFAULT_PRESET = "last_30_days"
MAX_YEARS = 5
# Bounds of a date anyone may ask about; beyond them a date is a typo (and the year 9999
# has no "next day" to end a range at).
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


class PeriodError(ValueError):
    """Input that names no usable period; `field` is the parameter to show the reason at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Period:
    first_day: date  # inclusive, in the store's zone
    last_day: date  # inclusive
    zone: ZoneInfo
    interval: str

    @property
    def start(self) -> datetime:
        """The UTC instant the first day begins at in the store's zone."""
        return local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> datetime:
        """The UTC instant after the last day (exclusive bound)."""
        return local_midnight(self.last_day + timedelta(days=1), self.zone)

    def bound(self, day: date) -> datetime:
        """The UTC instant `day` begins at in the store's zone."""
        return local_midnight(day, self.zone)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Period:
        """The period of the same number of days just before this one."""
        last = self.first_day - timedelta(days=1)
        first = last - timedelta(days=self.days - 1)
        return Period(max(first, EARLIEST), last, self.zone, self.interval)

    def buckets(self) -> list[date]:
        """The start dates of the day/week/month buckets that cover the period, in order.
        Weeks start on Monday (ISO, as PostgreSQL's `date_trunc('week')`); the first and last
        bucket may stick out of the period (only the period's days are counted in them)."""
        bucket = bucket_start(self.first_day, self.interval)
        out = []
        while bucket <= self.last_day:
            out.append(bucket)
            bucket = next_bucket(bucket, self.interval)
        return out


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # A midnight skipped by a DST change (a few zones move their clocks at 00:00) resolves
    # with the offset before the change (fold=0), i.e. the first instant of that local day.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def bucket_start(day: date, interval: str) -> date:
    if interval == WEEK:
        return day - timedelta(days=day.weekday())
    if interval == MONTH:
        return day.replace(day=1)
    return day


def next_bucket(bucket: date, interval: str) -> date:
    if interval == WEEK:
        return bucket + timedelta(days=7)
    if interval == MONTH:
        return (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)
    return bucket + timedelta(days=1)


def default_interval(days: int) -> str:
    """Days up to a month, weeks up to about six months, months beyond (13 to 31 points
    for the presets, readable as bars or a line)."""
    if days <= 31:
        return DAY
    if days <= 186:
        return WEEK
    return MONTH


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def preset_days(preset: str, today: date) -> tuple[date, date]:
    """The dates a preset names, as of `today` in the store's zone."""
    if preset == "today":
        return today, today
    if preset == "yesterday":
        yesterday = today - timedelta(days=1)
        return yesterday, yesterday
    if preset == "last_12_months":
        return years_before(today, 1) + timedelta(days=1), today
    if preset == "this_year":
        return today.replace(month=1, day=1), today
    n = {"last_7_days": 7, "last_30_days": 30, "last_90_days": 90}[preset]
    return today - timedelta(days=n - 1), today


def store_today(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(zone).date()


def _parse_day(field: str, raw: str) -> date:
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise PeriodError(field, f"{field} must be a date written YYYY-MM-DD, "
                                 f"got {raw[:40]!r}") from None
    if len(raw) != 10:  # fromisoformat also takes 20261201 and 2026-W48-1
        raise PeriodError(field, f"{field} must be a date written YYYY-MM-DD, got {raw[:40]!r}")
    if not EARLIEST <= value <= LATEST:
        raise PeriodError(field, f"{field} must be between {EARLIEST} and {LATEST}")
    return value


def parse_period(zone: ZoneInfo, *, first: str | None = None, last: str | None = None,
                 interval: str | None = None, preset: str | None = None,
                 today: date | None = None) -> Period:
    """The period that a preset or `from`/`to` name, with its `interval`; PeriodError (with
    the parameter to blame) for anything else.

    A preset other than "custom" wins over dates (the range picker keeps showing the dates
    of the preset it is on). Otherwise `from` is required once `to` or "custom" is given, and
    `to` defaults to today (or to `from`, if that is later); with nothing given, the last 30
    days, today included. A range longer than five years is refused, and so is an interval
    that is not day, week or month (none: chosen from the range's length).
    """
    today = today or store_today(zone)
    first, last, preset = (first or "").strip(), (last or "").strip(), (preset or "").strip()
    if preset and preset not in PRESETS:
        raise PeriodError("range", f"range must be one of {', '.join(PRESETS)}, "
                                   f"got {preset[:20]!r}")
    if preset and preset != "custom":
        first_day, last_day = preset_days(preset, today)
    elif first or last or preset == "custom":
        if not first:
            raise PeriodError("from", "from is required (YYYY-MM-DD)")
        first_day = _parse_day("from", first)
        last_day = _parse_day("to", last) if last else max(today, first_day)
        if first_day > last_day:
            raise PeriodError("to", f"to ({last_day}) is before from ({first_day})")
        if first_day < years_before(last_day, MAX_YEARS) + timedelta(days=1):
            raise PeriodError("from", f"the range is longer than {MAX_YEARS} years; "
                                      "choose a later from or an earlier to")
    else:
        first_day, last_day = preset_days(DEFAULT_PRESET, today)
    interval = (interval or "").strip() or default_interval((last_day - first_day).days + 1)
    if interval not in INTERVALS:
        raise PeriodError("interval", f"interval must be one of {', '.join(INTERVALS)}, "
                                      f"got {interval[:20]!r}")
    return Period(first_day, last_day, zone, interval)


def preset_of(period: Period, today: date) -> str:
    """The preset whose dates the period has today, else "custom"."""
    for preset in PRESETS:
        if preset != "custom" and preset_days(preset, today) == (period.first_day,
                                                                 period.last_day):
            return preset
    return "custom"
