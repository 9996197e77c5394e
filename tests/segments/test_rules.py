"""Each field of the rule language on hand-made customers, relative dates at their boundary,
and validation errors by path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from app.segments.rules import RulesInvalid, count_matching, validate
from tests.segments.support import NOW, person, store


def rule(field, op, value=None):
    r = {"field": field, "op": op}
    if value is not None:
        r["value"] = value
    return r


def names(session, shop, rows, rules, now=NOW):
    """The first names of the matching customers (ids mapped back), sorted."""
    from app.segments.rules import matching_ids

    ids = set(matching_ids(session, shop, rules, limit=100, now=now))
    assert count_matching(session, shop, rules, now=now) == len(ids)
    return sorted(r.first_name for r in rows if r.id in ids)


@pytest.fixture
def crowd(session, shop):
    """Four customers, C-a .. C-d, with hand-picked values."""
    rows = store(session, shop, [
        person(total_spent=Decimal("250"), orders_count=3, average_order_value=Decimal("83.33"),
               first_order_at=NOW - timedelta(days=400), last_order_at=NOW - timedelta(days=90),
               country_code="FR", email_marketing="subscribed", tier="Gold",
               points_balance=120, rfm_segment="At Risk", churn_risk=0.8,
               predicted_clv=Decimal("40"), tags="VIP, big spender",
               orders=[{"cancelled": False, "test": False, "lines": ["p1"]}]),
        person(total_spent=Decimal("40"), orders_count=1, average_order_value=Decimal("40"),
               first_order_at=NOW - timedelta(days=10), last_order_at=NOW - timedelta(days=10),
               country_code="DE", email_marketing="unsubscribed", tier="silver",
               points_balance=10, rfm_segment="New", churn_risk=0.1,
               predicted_clv=Decimal("300"), merchant_tags=["Wholesale"],
               orders=[{"cancelled": True, "test": False, "lines": ["p2"]},
                       {"cancelled": False, "test": False, "lines": ["p3"]}]),
        person(),  # never ordered, nothing known
        person(total_spent=Decimal("999"), deleted_at=NOW),  # deleted: never counted
    ])
    for row, name in zip(rows, "abcd", strict=True):
        row.first_name = name
    session.commit()
    return rows


@pytest.mark.parametrize(("rules", "expected"), [
    (rule("total_spent", "gte", "250"), ["a"]),
    (rule("total_spent", "lt", 50), ["b", "c"]),
    (rule("orders_count", "eq", 0), ["c"]),
    (rule("average_order_value", "gt", "50"), ["a"]),
    (rule("average_order_value", "is_not_set"), ["c"]),
    (rule("average_order_value", "ne", "40"), ["a", "c"]),  # no value: "is not 40" holds
    (rule("country_code", "eq", "fr"), ["a"]),
    (rule("country_code", "not_in", ["FR"]), ["b", "c"]),
    (rule("email_marketing", "eq", "subscribed"), ["a"]),
    (rule("tier", "eq", "SILVER"), ["b"]),
    (rule("tier", "is_set"), ["a", "b"]),
    (rule("points_balance", "gte", 100), ["a"]),
    (rule("rfm_segment", "in", ["At Risk", "New"]), ["a", "b"]),
    (rule("churn_risk", "gt", 0.5), ["a"]),
    (rule("churn_risk", "lte", 0.5), ["b"]),
    (rule("predicted_clv", "gte", 100), ["b"]),
    (rule("tags", "contains", "vip"), ["a"]),
    (rule("tags", "contains", "Big Spender"), ["a"]),
    (rule("tags", "contains", "big"), []),  # a whole tag, not a part of one
    (rule("tags", "contains", "wholesale"), ["b"]),  # a merchant tag
    (rule("tags", "not_contains", "vip"), ["b", "c"]),
    (rule("product_id", "in", ["p1"]), ["a"]),
    (rule("product_id", "in", ["p2"]), []),  # bought only in a cancelled order
    (rule("product_id", "not_in", ["p1"]), ["b", "c"]),
    (rule("product_title", "contains", "gift"), ["b"]),
    ({"any": [rule("country_code", "eq", "DE"), rule("total_spent", "gt", 100)]}, ["a", "b"]),
    ({"all": [rule("orders_count", "gte", 1), {"not": rule("tier", "eq", "gold")}]}, ["b"]),
    ({"all": []}, ["a", "b", "c"]),
    ({"any": []}, []),
    ([rule("orders_count", "gte", 1), rule("email_marketing", "ne", "subscribed")], ["b"]),
])
def test_each_field_selects_the_customers_it_describes(session, shop, crowd, rules, expected):
    assert names(session, shop, crowd, rules) == expected


def test_relative_dates_are_measured_from_now_at_their_boundary(session, shop, crowd):
    # "a" ordered last exactly 90 days before NOW
    more = rule("last_order_at", "more_than_days_ago", 90)
    within = rule("last_order_at", "within_last_days", 90)
    assert names(session, shop, crowd, more) == []
    assert names(session, shop, crowd, within) == ["a", "b"]
    # one second later, the same rules say the opposite for "a": no rebuild needed
    later = NOW + timedelta(seconds=1)
    assert names(session, shop, crowd, more, now=later) == ["a"]
    assert names(session, shop, crowd, within, now=later) == ["b"]
    # customers without orders are neither
    assert names(session, shop, crowd, rule("first_order_at", "is_not_set")) == ["c"]


def test_absolute_dates_are_days_in_the_stores_time_zone(session, shop):
    # given a store in Tokyo (UTC+9) and an order at 20:00 UTC on 1 March, 05:00 on the
    # 2nd in Tokyo
    shop.timezone = "Asia/Tokyo"
    placed = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    rows = store(session, shop, [person(first_order_at=placed, last_order_at=placed,
                                        orders_count=1)])
    rows[0].first_name = "t"
    session.commit()
    # then it is an order of 2 March, not of 1 March
    assert names(session, shop, rows, rule("last_order_at", "after", "2026-03-01")) == ["t"]
    assert names(session, shop, rows, rule("last_order_at", "before", "2026-03-02")) == []
    assert names(session, shop, rows, rule("last_order_at", "before", "2026-03-03")) == ["t"]
    assert names(session, shop, rows, rule("last_order_at", "after", "2026-03-02")) == []


def test_another_stores_customers_never_count(session, shop, other_shop):
    store(session, other_shop, [person(total_spent=Decimal("500"))])
    store(session, shop, [person(total_spent=Decimal("5"))])
    session.commit()
    assert count_matching(session, shop, {"all": []}, now=NOW) == 1
    assert count_matching(session, shop, rule("total_spent", "gte", 100), now=NOW) == 0


@pytest.mark.parametrize(("rules", "path", "words"), [
    ({"all": [rule("total_spent", "gte", "lots")]}, "rules.all.0.value", "amount"),
    ({"any": [{"all": [rule("colour", "eq", "red")]}]}, "rules.any.0.all.0.field",
     "unknown field 'colour'"),
    ({"all": [rule("orders_count", "contains", 2)]}, "rules.all.0.op", "orders_count takes"),
    ({"all": [rule("last_order_at", "more_than_days_ago", -3)]}, "rules.all.0.value",
     "between 0 and"),
    ({"all": [rule("last_order_at", "before", "2026-02-30")]}, "rules.all.0.value",
     "does not exist"),
    ({"all": [rule("rfm_segment", "eq", "Heroes")]}, "rules.all.0.value", "Champions"),
    ({"all": [rule("churn_risk", "gt", 2)]}, "rules.all.0.value", "from 0 to 1"),
    ({"all": [rule("country_code", "in", [])]}, "rules.all.0.value", "non-empty list"),
    ({"all": [rule("collection", "contains", "Summer")]}, "rules.all.0.field",
     "collections are not available"),
    ({"all": [{"field": "total_spent", "op": "gte"}]}, "rules.all.0.value", "needs a value"),
    ({"all": "everyone"}, "rules.all", "list of rules"),
    ("everyone", "rules", "must be an object"),
])
def test_bad_rules_are_refused_with_their_path_and_reason(session, shop, rules, path, words):
    _, errors = validate(rules)
    assert path in errors, errors
    assert words in errors[path]
    with pytest.raises(RulesInvalid):
        count_matching(session, shop, rules)


def test_values_are_stored_in_one_form():
    normalized, errors = validate({"all": [rule("total_spent", "gte", 99.5),
                                           rule("country_code", "in", ["fr", " de "]),
                                           rule("tags", "contains", "  Big   Spender ")]})
    assert errors == {}
    assert normalized == {"all": [rule("total_spent", "gte", "99.5"),
                                  rule("country_code", "in", ["FR", "DE"]),
                                  rule("tags", "contains", "big spender")]}
