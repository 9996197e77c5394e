"""`GET /api/metrics` and `GET /api/activity`: the shape DESIGN.md fixes, the store's own
figures only, and a 400 with a reason for every kind of bad input."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from app.analytics.kpis import DEFINITIONS
from app.db import db
from app.shops.service import create_api_key
from tests.test_api import bearer, session_token
from tests.test_metrics import build_store

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def store(ctx, shop, other_shop):
    return build_store(shop, other_shop)


def get(client, path: str, shop_domain: str = "sticky-test.myshopify.com", **query):
    return client.get(path, query_string=query,
                      headers=bearer(session_token(shop_domain)))


def test_metrics_have_the_designed_shape_and_the_stores_figures(client, store):
    response = get(client, "/api/metrics", **MARCH, interval="week")

    assert response.status_code == 200
    body = response.get_json()
    # The figures of tests/test_metrics.py, money as decimal strings in the shop's currency
    assert {key: body[key] for key in (
        "from", "to", "interval", "timezone", "currency", "revenue", "orders",
        "average_order_value", "customers", "new_customers", "returning_customers",
        "repeat_purchase_rate", "checkouts_started", "checkouts_open", "checkouts_abandoned",
        "checkouts_completed", "checkouts_recovered", "recovery_rate")} == {
        "from": "2026-03-01", "to": "2026-03-31", "interval": "week",
        "timezone": "America/New_York", "currency": "USD", "revenue": "300.00", "orders": 7,
        "average_order_value": "42.86", "customers": 5, "new_customers": 3,
        "returning_customers": 2, "repeat_purchase_rate": "0.6000", "checkouts_started": 5,
        "checkouts_open": 2, "checkouts_abandoned": 1, "checkouts_completed": 2,
        "checkouts_recovered": 1, "recovery_rate": "0.5000"}
    assert body["definitions"] == DEFINITIONS
    assert [(s["date"], s["from"], s["to"], s["revenue"], s["orders"])
            for s in body["series"]] == [
        ("2026-02-23", "2026-03-01", "2026-03-01", "15.00", 1),
        ("2026-03-02", "2026-03-02", "2026-03-08", "70.00", 1),
        ("2026-03-09", "2026-03-09", "2026-03-15", "105.00", 2),
        ("2026-03-16", "2026-03-16", "2026-03-22", "50.00", 2),
        ("2026-03-23", "2026-03-23", "2026-03-29", "0.00", 0),
        ("2026-03-30", "2026-03-30", "2026-03-31", "60.00", 1)]
    week = body["series"][2]
    assert (week["new_customers"], week["returning_customers"]) == (2, 0)
    assert week["average_order_value"] == "52.50"  # 105 / 2
    assert body["series"][4]["average_order_value"] is None
    assert "previous" not in body


def test_compare_adds_the_previous_period(client, store):
    body = get(client, "/api/metrics", **MARCH, compare="previous").get_json()

    previous = body["previous"]
    assert {key: previous[key] for key in (
        "from", "to", "revenue", "orders", "average_order_value", "new_customers")} == {
                                "from": "2026-01-29", "to": "2026-02-28", "revenue": "120.00",
                                "orders": 2, "average_order_value": "60.00",
                                "new_customers": 2}


def test_an_api_key_reads_its_own_store_only(client, store):
    # The other store: two orders of 1000 in March
    _row, key = create_api_key(db.session, store.other, "script")
    db.session.commit()

    theirs = client.get("/api/metrics", query_string=MARCH, headers=bearer(key)).get_json()
    ours = get(client, "/api/metrics", **MARCH).get_json()

    assert (theirs["revenue"], theirs["orders"], theirs["customers"]) == ("2000.00", 2, 2)
    assert (ours["revenue"], ours["orders"], ours["customers"]) == ("300.00", 7, 5)
    assert client.get("/api/metrics", query_string=MARCH).status_code == 401


def test_without_dates_the_last_30_days_by_day(client, store):
    body = get(client, "/api/metrics").get_json()

    assert body["interval"] == "day" and len(body["series"]) == 30
    assert body["series"][-1]["date"] == body["to"]


@pytest.mark.parametrize(("query", "field", "reason"), [
    ({"from": "March"}, "from", "from must be a date written YYYY-MM-DD, got 'March'"),
    ({"from": "2026-03-31", "to": "2026-03-01"}, "to", "is before from"),
    ({"from": "2020-01-01", "to": "2026-03-01"}, "from", "longer than 5 years"),
    ({"interval": "quarter"}, "interval", "interval must be one of day, week, month"),
    ({"range": "forever"}, "range", "range must be one of"),
    ({"compare": "last_year"}, "compare", "compare must be one of previous"),
    ({"from": "2026-03-01", "to": "1999-12-31x"}, "to", "to must be a date written"),
])
def test_bad_input_is_a_400_with_a_reason(client, store, query, field, reason):
    response = get(client, "/api/metrics", **query)

    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field and reason in body["message"]


def test_activity_is_the_newest_facts_as_sentences(client, store):
    response = get(client, "/api/activity", limit=4)

    assert response.status_code == 200
    items = response.get_json()["activity"]
    # The abandonment job ran last (its facts are dated when it ran); before that, the
    # newest fact is A1's refund on 10 April.
    assert [i["kind"] for i in items] == ["cart_abandoned"] * 3 + ["refund_created"]
    assert {(i["customer"]["name"], i["summary"]) for i in items[:3]} == {
        (f"{name} Tester", "left a checkout unfinished ($50.00)") for name in ("Bob", "Cy",
                                                                              "Fay")}
    refund = items[3]
    assert (refund["customer"]["name"], refund["customer"]["email"]) == ("Ada Tester",
                                                                          "ada@example.com")
    assert refund["summary"] == "was refunded $30.00 on order #A1"
    assert refund["occurred_at"] == "2026-04-10T00:00:00Z"
    others = get(client, "/api/activity", "other-store.myshopify.com").get_json()["activity"]
    assert {i["customer"]["email"] for i in others} == {"ada@example.com", "zed@example.com"}
    assert not {i["id"] for i in others} & {i["id"] for i in items}


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_bad_activity_limit_is_a_400(client, store, limit):
    response = get(client, "/api/activity", limit=limit)

    assert response.status_code == 400 and response.get_json()["field"] == "limit"


def test_openapi_describes_metrics_and_activity(client):
    spec = client.get("/api/openapi.json").get_json()

    validate(spec)
    metrics = spec["paths"]["/api/metrics"]["get"]
    schema = metrics["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"from", "to", "currency", "revenue", "orders", "average_order_value", "customers",
            "new_customers", "returning_customers", "repeat_purchase_rate", "definitions",
            "series"} <= set(schema["required"])
    for rate in ("repeat_purchase_rate", "recovery_rate"):
        assert "decimal string with 4 places" in schema["properties"][rate]["description"]
    assert "/api/activity" in spec["paths"]
