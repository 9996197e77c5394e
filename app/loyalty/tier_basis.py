"""What a tier is measured on: the member's figure on the program's basis over its period.

- **Basis** "spend": the money of the member's paid orders placed in the period, net of
  refunds, leaving out test, cancelled and voided orders (`app.profiles.figures.counted_order`,
  the rule the profile's `total_spent` follows). Basis "points": the points earned in the
  period (`ledger.EARNED_KINDS` — awards, pending awards, manual adjustments, net of what was
  taken back — by the entries' `created_at`). Never the spendable balance: spending points
  does not cost a shopper their tier.
- **Periods**, in the store's time zone (`app.settings.timezone.shop_zone`):
  "rolling_12_months" on local day D is the local days after D minus 12 months up to now
  (an order of 15 March 2025 counts up to 14 March 2026 and no longer on the 15th; 29
  February counts back from 28 February); "calendar_year" is 1 January of the local year
  to now; "lifetime" is everything up to now.

Amounts are Decimals: money for "spend", whole points for "points".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.loyalty.ledger import EARNED_KINDS
from app.loyalty.models import LedgerEntry
from app.loyalty.program import Program, Tier
from app.money import money_text
from app.profiles.figures import counted_order
from app.profiles.models import Order
from app.profiles.timeline import PAID_STATES

_O = Order.__table__
_L = LedgerEntry.__table__
_INSTANT = timedelta(microseconds=1)
# Members' figures are read this many at a time (bound parameters per query stay small).
CHUNK = 1000


@dataclass(frozen=True)
class Window:
    """From `start` (None: the beginning) up to and excluding `before`, in UTC."""

    start: datetime | None
    before: datetime
    words: str  # "in the last 12 months", "in 2026", "in total"


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def local_date(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def months_back(day: date, months: int) -> date:
    """The same day `months` earlier, or the last day of that month (31 May - 3 = 28 Feb)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def current_window(period: str, as_of: datetime, zone: ZoneInfo) -> Window:
    """The program's period as it stands at `as_of` (included)."""
    today = local_date(as_of, zone)
    before = as_of + _INSTANT
    if period == "rolling_12_months":
        first = months_back(today, 12) + timedelta(days=1)
        return Window(start_of_day(first, zone), before, "in the last 12 months")
    if period == "calendar_year":
        return Window(start_of_day(date(today.year, 1, 1), zone), before, f"in {today.year}")
    return Window(None, before, "in total")


def previous_year_window(as_of: datetime, zone: ZoneInfo) -> Window:
    """The whole local calendar year before the one `as_of` is in."""
    year = local_date(as_of, zone).year
    return Window(start_of_day(date(year - 1, 1, 1), zone),
                  start_of_day(date(year, 1, 1), zone), f"in {year - 1}")


def values(session: Session, shop_id: int, basis: str, window: Window,
           customer_ids: Iterable[int] | None = None) -> dict[int, Decimal]:
    """Each member's figure on `basis` over `window` (members with none are absent).
    `customer_ids` None: every profile of the shop."""
    if customer_ids is None:
        return _values(session, shop_id, basis, window, None)
    ids = sorted(set(customer_ids))
    out: dict[int, Decimal] = {}
    for i in range(0, len(ids), CHUNK):
        out.update(_values(session, shop_id, basis, window, ids[i:i + CHUNK]))
    return out


def basis_query(shop_id: int, basis: str):
    """(query, who, when): the sum of the tier basis per shopper of a shop, before any
    window: money of paid, counted orders net of refunds ("spend"), or points earned
    ("points"); `who` is the shopper's column, `when` the moment the window bounds."""
    if basis == "spend":
        who, when = _O.c.customer_id, _O.c.placed_at
        query = (select(who, func.sum(_O.c.total_price - _O.c.total_refunded))
                 .where(_O.c.shop_id == shop_id, counted_order(_O.c),
                        _O.c.financial_status.in_(sorted(PAID_STATES))))
    else:
        who, when = _L.c.customer_id, _L.c.created_at
        query = (select(who, func.sum(_L.c.points))
                 .where(_L.c.shop_id == shop_id, _L.c.kind.in_(EARNED_KINDS)))
    return query, who, when


def _values(session: Session, shop_id: int, basis: str, window: Window,
            ids: list[int] | None) -> dict[int, Decimal]:
    query, who, when = basis_query(shop_id, basis)
    query = query.where(who.is_not(None), when < window.before)
    if window.start is not None:
        query = query.where(when >= window.start)
    if ids is not None:
        query = query.where(who.in_(ids))
    rows = session.execute(query.group_by(who)).all()
    return {cid: Decimal(total or 0) for cid, total in rows}


# --- the ladder ----------------------------------------------------------------------------


def qualifying(program: Program, value: Decimal) -> Tier | None:
    """The highest tier whose threshold `value` meets (tiers are kept lowest first)."""
    reached = None
    for tier in program.tiers:
        if value >= tier.threshold:
            reached = tier
    return reached


def rank(program: Program, name: str | None) -> int:
    """A tier's place on the ladder (0 = lowest); -1 for no tier or one the program no
    longer has."""
    for i, tier in enumerate(program.tiers):
        if tier.name == name:
            return i
    return -1


def higher(program: Program, a: Tier | None, b: Tier | None) -> Tier | None:
    return a if rank(program, a.name if a else None) >= rank(program,
                                                           b.name if b else None) else b


def amount_text(basis: str, value: Decimal, currency: str) -> str:
    """"$512.00" or "1,200 points"."""
    if basis == "spend":
        return money_text(value, currency)
    return f"{int(value):,} points"


def figure_text(basis: str, value: Decimal, currency: str) -> str:
    """"$512.00 spent" or "1,200 points earned"."""
    return amount_text(basis, value, currency) + (" spent" if basis == "spend" else " earned")


def threshold_text(basis: str, tier: Tier, currency: str) -> str:
    return amount_text(basis, tier.threshold, currency)


def value_string(basis: str, value: Decimal) -> str:
    """A figure as the API and widget show it: "512.00" for money, "1200" for points."""
    if basis == "spend":
        return str(value.quantize(Decimal("0.01")))
    return str(int(value))
