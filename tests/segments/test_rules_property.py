"""Segment counts equal a brute-force filter of the same customers, on random rule trees.

The brute force below is written from the rule language's documented meaning, in plain
Python over the generated dicts (dates compared as local calendar days, durations as
timedeltas), not from the SQL compiler: the two must agree on every example.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.segments.rules import count_matching
from tests.segments.support import NOW, TITLES, clear, person, store

ZONE = ZoneInfo("America/New_York")
MONEY = ["0", "19.99", "50", "100", "250.5"]
INTS = [-5, 0, 1, 2, 3, 100]
RATIOS = [0, 0.25, 0.5, 0.9, 1]
RELATIVE_DAYS = [0, 1, 30, 90, 365]
LOCAL_TODAY = NOW.astimezone(ZONE).date()
DAYS = [(LOCAL_TODAY - timedelta(days=d)).isoformat() for d in (0, 1, 30, 90, 200)]
COUNTRIES = ["FR", "de", "US"]
TIERS = ["gold", "Silver", "Platinum"]
CONSENT = ["subscribed", "unsubscribed", "not_subscribed"]
RFM = ["Champions", "Lost", "At Risk"]
TAGS = ["vip", "Big Spender", "wholesale", "none"]
PRODUCTS = ["p1", "p2", "p9"]
TITLE_TEXT = ["mug", "Blue", "tea pot", "card"]

# --- random customers ---------------------------------------------------------------

_moment = st.one_of(
    st.none(),
    # exactly N days before now: the boundary of the relative rules
    st.sampled_from(RELATIVE_DAYS).map(lambda d: NOW - timedelta(days=d)),
    st.builds(lambda d, m: NOW - timedelta(days=d, minutes=m),
              st.integers(0, 400), st.integers(-720, 720)),
)
_order = st.fixed_dictionaries({
    "cancelled": st.booleans(), "test": st.booleans(),
    "lines": st.lists(st.sampled_from(["p1", "p2", "p3"]), max_size=2)})
_person = st.builds(
    lambda **kw: person(**kw),
    total_spent=st.sampled_from(MONEY + ["75.25"]).map(Decimal),
    orders_count=st.integers(0, 4),
    average_order_value=st.one_of(st.none(), st.sampled_from(MONEY).map(Decimal)),
    first_order_at=_moment, last_order_at=_moment,
    country_code=st.sampled_from([None, "FR", "DE", "us"]),
    email_marketing=st.sampled_from(CONSENT),
    tier=st.sampled_from([None, "Gold", "silver", "Bronze"]),
    points_balance=st.sampled_from([-5, 0, 2, 100, 150]),
    rfm_segment=st.sampled_from([None, "Champions", "Lost", "New"]),
    churn_risk=st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.6, 1.0])),
    predicted_clv=st.one_of(st.none(), st.sampled_from(MONEY).map(Decimal)),
    tags=st.one_of(st.none(), st.lists(st.sampled_from(["VIP", "big spender", "retail",
                                                        "vipx"]), max_size=3, unique=True)
                   .map(", ".join)),
    merchant_tags=st.lists(st.sampled_from(["Wholesale", "vip"]), max_size=2, unique=True),
    deleted_at=st.sampled_from([None, None, None, NOW]),
    orders=st.lists(_order, max_size=2),
)

# --- random rules --------------------------------------------------------------------


def _leaf(field: str, ops: list[str], values: list[Any], listed: bool = True):
    choices = []
    for op in ops:
        if op in ("is_set", "is_not_set"):
            choices.append(st.just({"field": field, "op": op}))
        elif op in ("in", "not_in"):
            choices.append(st.lists(st.sampled_from(values), min_size=1, max_size=2,
                                    unique=True).map(lambda v, op=op: {
                                        "field": field, "op": op, "value": v}))
        else:
            choices.append(st.sampled_from(values).map(lambda v, op=op: {
                "field": field, "op": op, "value": v}))
    return st.one_of(choices)


NUMBER_OPS = ["eq", "ne", "gt", "gte", "lt", "lte", "is_set", "is_not_set"]
TEXT_OPS = ["eq", "ne", "in", "not_in", "is_set", "is_not_set"]
_leaves = st.one_of(
    *(_leaf(f, NUMBER_OPS, MONEY) for f in ("total_spent", "average_order_value",
                                            "predicted_clv")),
    *(_leaf(f, NUMBER_OPS, INTS) for f in ("orders_count", "points_balance")),
    _leaf("churn_risk", NUMBER_OPS, RATIOS),
    *(_leaf(f, ["before", "after"], DAYS) for f in ("first_order_at", "last_order_at")),
    *(_leaf(f, ["more_than_days_ago", "within_last_days", "is_set", "is_not_set"],
            RELATIVE_DAYS) for f in ("first_order_at", "last_order_at")),
    _leaf("country_code", TEXT_OPS, COUNTRIES), _leaf("tier", TEXT_OPS, TIERS),
    _leaf("email_marketing", TEXT_OPS, CONSENT), _leaf("rfm_segment", TEXT_OPS, RFM),
    _leaf("tags", ["contains", "not_contains"], TAGS),
    _leaf("product_id", ["in", "not_in"], PRODUCTS),
    _leaf("product_title", ["contains", "not_contains"], TITLE_TEXT),
)
_rules = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda xs: {"all": xs}),
    st.lists(inner, max_size=3).map(lambda xs: {"any": xs}),
    inner.map(lambda x: {"not": x})), max_leaves=6)

# --- the brute force -------------------------------------------------------------------


def _value_of(p: dict[str, Any], field: str) -> Any:
    return p[field]


def _bought(p: dict[str, Any], matches) -> bool:
    return any(matches(product) for order in p["orders"]
               if not order["cancelled"] and not order["test"] for product in order["lines"])


def holds(rule: Any, p: dict[str, Any]) -> bool:
    if "all" in rule:
        return all(holds(r, p) for r in rule["all"])
    if "any" in rule:
        return any(holds(r, p) for r in rule["any"])
    if "not" in rule:
        return not holds(rule["not"], p)
    field, op, value = rule["field"], rule["op"], rule.get("value")
    if field == "tags":
        platform = {t.strip().lower() for t in (p["tags"] or "").split(",") if t.strip()}
        mine = {t.lower() for t in p["merchant_tags"]}
        inside = value.lower() in platform | mine
        return inside if op == "contains" else not inside
    if field == "product_id":
        inside = _bought(p, lambda product: product in value)
        return inside if op == "in" else not inside
    if field == "product_title":
        inside = _bought(p, lambda product: value.lower() in TITLES[product].lower())
        return inside if op == "contains" else not inside
    actual = _value_of(p, field)
    if op == "is_set":
        return actual is not None
    if op == "is_not_set":
        return actual is None
    if field in ("first_order_at", "last_order_at"):
        if actual is None:
            return False
        if op == "before":
            return actual.astimezone(ZONE).date() < date.fromisoformat(value)
        if op == "after":
            return actual.astimezone(ZONE).date() > date.fromisoformat(value)
        if op == "more_than_days_ago":
            return NOW - actual > timedelta(days=value)
        return NOW - actual <= timedelta(days=value)  # within_last_days
    if field in ("country_code", "tier", "email_marketing", "rfm_segment"):
        fold = str.upper if field == "country_code" else str.lower
        wanted = {fold(v) for v in (value if isinstance(value, list) else [value])}
        inside = actual is not None and fold(actual) in wanted
        return not inside if op in ("ne", "not_in") else inside
    if op == "ne":
        return actual is None or Decimal(str(actual)) != Decimal(str(value))
    if actual is None:
        return False
    a, b = Decimal(str(actual)), Decimal(str(value))
    return {"eq": a == b, "gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(people=st.lists(_person, min_size=1, max_size=12),
       strangers=st.lists(_person, max_size=2),
       rule_trees=st.lists(_rules, min_size=1, max_size=4))
def test_segment_counts_equal_a_brute_force_filter(session, shop, other_shop, people,
                                                   strangers, rule_trees):
    # given a store in New York's time zone, its customers and another store's
    shop.timezone = "America/New_York"
    clear(session)
    store(session, shop, people)
    store(session, other_shop, strangers)
    session.commit()
    for rules in rule_trees:
        # when the segment is counted, then it is the customers the brute force keeps
        expected = sum(1 for p in people if p["deleted_at"] is None and holds(rules, p))
        assert count_matching(session, shop, rules, now=NOW) == expected, rules
    session.commit()
