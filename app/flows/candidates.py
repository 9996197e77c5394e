"""Who enters the flows no event starts: lapsed shoppers (win-back) and dates (birthday).

The engine's sweep calls these for each live flow of that trigger type and enters each
candidate under its trigger key; a run is unique per (flow, trigger key), so calling again
enters no one twice. Given the flow's id, a candidate whose run already exists is left out
of the answer, so the sweep's work stays proportional to the shoppers who newly qualify.

Lapsed (`{"type": "lapsed", "factor", "min_days", "max_days"}`):
- a shopper with two orders or more has lapsed when the days since their last order exceed
  `factor` × their own mean interval between orders ((last − first) / (orders − 1)),
  clamped to [min_days, max_days]: someone who buys every month has lapsed after two, someone
  who buys twice a year only after a year;
- a shopper with one order has no interval of their own: they have lapsed after
  `factor` × the store's median of the repeat shoppers' mean intervals, at least `min_days`
  (just `min_days` while the store has no repeat shopper), at most `max_days`.
With `"basis": "churn_risk"` (the built-in win-back's) and a fitted prediction model in the
store (app.predictions), a shopper with a repeat order day has lapsed when their predicted
churn risk (1 − P(alive), BG/NBD) is above `above` (default 0.5) and their last order is at
least `min_days` old; shoppers BG/NBD cannot judge (no repeat order day yet: their churn risk
is 0 by the model's construction, or not scored yet) go by the interval rule above. Without a
fitted model the whole trigger is the interval rule. Either way the trigger key is the same,
so a change of basis enters no one twice.
Orders are the ones that count for a shopper's figures (app.profiles.figures: not cancelled,
voided or a test). The trigger key is "lapsed:<platform id of the last order>", so a shopper
lapses again only after a new order.

Dates (`{"type": "date", "property": "birthday", "days_before"}`): members whose birthday
(saved in the rewards widget, `loyalty_members.birthday`) falls `days_before` days after
today in the store's time zone; 29 February is celebrated on 28 February in other years, as
the loyalty bonus does, and as for that bonus only a birthday saved at least 30 days before
counts (app.loyalty.birthday.SAVED_BEFORE: otherwise setting one's birthday to today would be
a button that makes a discount code). Trigger key "birthday:<year of that birthday>": once a
year.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, exists, extract, or_, select, text
from sqlalchemy.orm import Session

from app.db import UTCDateTime
from app.flows.models import FlowRun
from app.loyalty.birthday import SAVED_BEFORE
from app.loyalty.models import LoyaltyMember
from app.loyalty.tier_basis import start_of_day
from app.profiles.models import Customer
from app.settings.timezone import shop_zone
from app.shops.models import Shop

DEFAULT_FACTOR, DEFAULT_MIN_DAYS, DEFAULT_MAX_DAYS = Decimal("2"), 30, 730
DEFAULT_ABOVE = "0.5"


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    trigger_key: str  # e.g. "lapsed:<last order id>", "birthday:<year>"
    context: dict[str, Any] = field(default_factory=dict)  # the run's `event` facts


def _days(postgres: bool, later: str, earlier: str) -> str:
    """SQL for `later - earlier` in days (fractional), on PostgreSQL and SQLite alike."""
    if postgres:
        return f"(EXTRACT(EPOCH FROM {later} - {earlier}) / 86400.0)"
    return f"(julianday({later}) - julianday({earlier}))"


# One statement: each shopper's own mean interval, the store's median of those (portable:
# no percentile_cont), the threshold that applies to each, and the last order that counts
# (the rule of app.profiles.figures.counted_order, which the figures above come from).
_LAPSED = """
WITH mine AS (
    SELECT c.id, c.orders_count, c.last_order_at, c.churn_risk,
           CASE WHEN c.orders_count >= 2
                THEN {span} / (c.orders_count - 1) END AS usual,
           {since} AS since
    FROM customers AS c
    WHERE c.shop_id = :shop AND c.deleted_at IS NULL AND c.email_normalized IS NOT NULL
      AND c.last_order_at IS NOT NULL AND c.orders_count >= 1
), ranked AS (
    SELECT usual, row_number() OVER (ORDER BY usual) AS rn, count(*) OVER () AS n
    FROM mine WHERE usual IS NOT NULL
), store AS (
    SELECT avg(usual) AS median FROM ranked WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
), judged AS (
    SELECT mine.*,
           CASE WHEN mine.usual IS NOT NULL THEN mine.usual * :factor
                ELSE coalesce((SELECT median FROM store), 0) * :factor END AS raw
    FROM mine
), lapsed AS (
    SELECT judged.*,
           CASE WHEN raw < :min_days THEN :min_days
                WHEN raw > :max_days THEN :max_days ELSE raw END AS threshold
    FROM judged
)
SELECT lapsed.id, lapsed.orders_count, lapsed.last_order_at, lapsed.since,
       lapsed.threshold, lapsed.usual, last.platform_order_id AS last_order
FROM lapsed
JOIN orders AS last ON last.id = (
    SELECT o.id FROM orders AS o
    WHERE o.shop_id = :shop AND o.customer_id = lapsed.id AND o.cancelled_at IS NULL
      AND (o.financial_status IS NULL OR o.financial_status != 'voided') AND o.test = :false
    ORDER BY o.placed_at DESC, o.id DESC LIMIT 1)
WHERE lapsed.since > lapsed.threshold
{only_unjudged}
{not_entered}
ORDER BY lapsed.last_order_at, lapsed.id
"""
_UNJUDGED = "AND (lapsed.churn_risk IS NULL OR lapsed.churn_risk <= 0)"
# Shoppers over the churn-risk threshold, with the same last counted order and trigger key.
_CHURNED = """
SELECT c.id, c.orders_count, c.last_order_at, c.churn_risk, {since} AS since,
       last.platform_order_id AS last_order
FROM customers AS c
JOIN orders AS last ON last.id = (
    SELECT o.id FROM orders AS o
    WHERE o.shop_id = :shop AND o.customer_id = c.id AND o.cancelled_at IS NULL
      AND (o.financial_status IS NULL OR o.financial_status != 'voided') AND o.test = :false
    ORDER BY o.placed_at DESC, o.id DESC LIMIT 1)
WHERE c.shop_id = :shop AND c.deleted_at IS NULL AND c.email_normalized IS NOT NULL
  AND c.last_order_at IS NOT NULL AND c.churn_risk > :above AND {since} >= :min_days
{not_entered}
ORDER BY c.last_order_at, c.id
"""
_NOT_ENTERED = """AND NOT EXISTS (
    SELECT 1 FROM flow_runs AS r
    WHERE r.flow_id = :flow_id AND r.trigger_key = 'lapsed:' || last.platform_order_id)"""


def uses_churn_risk(session: Session, shop_id: int, trigger: dict[str, Any]) -> bool:
    """Whether a lapsed trigger judges by predicted churn risk in this store now: it asks
    to, and the store's latest model fit succeeded."""
    if trigger.get("basis", "interval") != "churn_risk":
        return False
    from app.predictions.models import FITTED
    from app.predictions.service import current_model

    model = current_model(session, shop_id)
    return model is not None and model.status == FITTED


def lapsed(session: Session, shop_id: int, trigger: dict[str, Any], now: datetime, *,
           flow_id: int | None = None) -> list[Candidate]:
    """Shoppers of the shop who have lapsed (module docstring), oldest lapse first; without
    those who already have a run of `flow_id` under the same trigger key."""
    postgres = session.get_bind().dialect.name == "postgresql"
    by_churn = uses_churn_risk(session, shop_id, trigger)
    not_entered = (_NOT_ENTERED if flow_id is not None else "")
    churned = _churned(session, shop_id, trigger, now, postgres, flow_id) if by_churn else []
    sql = _LAPSED.format(
        span=_days(postgres, "c.last_order_at", "c.first_order_at"),
        since=_days(postgres, ":now", "c.last_order_at"),
        only_unjudged=_UNJUDGED if by_churn else "",
        not_entered=not_entered)
    query = text(sql).bindparams(bindparam("now", type_=UTCDateTime))
    params = {"shop": shop_id, "now": now, "false": False, "flow_id": flow_id,
              "factor": float(Decimal(str(trigger.get("factor", DEFAULT_FACTOR)))),
              "min_days": float(trigger.get("min_days", DEFAULT_MIN_DAYS)),
              "max_days": float(trigger.get("max_days", DEFAULT_MAX_DAYS))}
    by_interval = [Candidate(r.id, f"lapsed:{r.last_order}", {
        "last_order_id": r.last_order, "last_order_at": _iso(r.last_order_at),
        "orders_count": r.orders_count, "days_since_last_order": int(r.since),
        "usual_interval_days": None if r.usual is None else round(float(r.usual), 1),
        "lapsed_after_days": round(float(r.threshold), 1), "basis": "interval"})
        for r in session.execute(query, params)]
    if not churned:
        return by_interval
    both = churned + by_interval
    both.sort(key=lambda c: (c.context["last_order_at"], c.customer_id))
    return both


def _churned(session: Session, shop_id: int, trigger: dict[str, Any], now: datetime,
             postgres: bool, flow_id: int | None) -> list[Candidate]:
    sql = _CHURNED.format(since=_days(postgres, ":now", "c.last_order_at"),
                          not_entered=_NOT_ENTERED if flow_id is not None else "")
    query = text(sql).bindparams(bindparam("now", type_=UTCDateTime))
    params = {"shop": shop_id, "now": now, "false": False, "flow_id": flow_id,
              "above": float(Decimal(str(trigger.get("above", DEFAULT_ABOVE)))),
              "min_days": float(trigger.get("min_days", DEFAULT_MIN_DAYS))}
    return [Candidate(r.id, f"lapsed:{r.last_order}", {
        "last_order_id": r.last_order, "last_order_at": _iso(r.last_order_at),
        "orders_count": r.orders_count, "days_since_last_order": int(r.since),
        "churn_risk": round(float(r.churn_risk), 4), "basis": "churn_risk"})
        for r in session.execute(query, params)]


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _born_on(column, day: date):
    same = and_(extract("month", column) == day.month, extract("day", column) == day.day)
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        return or_(same, and_(extract("month", column) == 2, extract("day", column) == 29))
    return same


def dates(session: Session, shop_id: int, trigger: dict[str, Any], now: datetime, *,
          flow_id: int | None = None) -> list[Candidate]:
    """Members whose birthday is `days_before` days after today, in the store's time zone
    (module docstring); without those who already have this year's run of `flow_id`."""
    if trigger.get("property", "birthday") != "birthday":
        return []
    shop = session.get(Shop, shop_id)
    if shop is None:
        return []
    days_before = int(trigger.get("days_before", 0))
    zone = shop_zone(session, shop)
    day = now.astimezone(zone).date() + timedelta(days=days_before)
    key = f"birthday:{day.year}"
    M, C = LoyaltyMember, Customer
    saved_by = start_of_day(day, zone) - SAVED_BEFORE
    query = (select(M.customer_id, M.birthday)
             .join(C, and_(C.id == M.customer_id, C.shop_id == shop_id))
             .where(M.shop_id == shop_id, M.birthday.is_not(None), _born_on(M.birthday, day),
                    or_(M.birthday_set_at.is_(None), M.birthday_set_at <= saved_by),
                    C.deleted_at.is_(None), C.email_normalized.is_not(None)))
    if flow_id is not None:
        query = query.where(~exists().where(FlowRun.flow_id == flow_id,
                                            FlowRun.customer_id == M.customer_id,
                                            FlowRun.trigger_key == key))
    return [Candidate(r.customer_id, key, {
        "birthday": r.birthday.isoformat(), "celebrated_on": day.isoformat(),
        "days_before": days_before})
        for r in session.execute(query.order_by(M.customer_id))]
