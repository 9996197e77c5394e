"""`GET /api/metrics` with the KPIs of `app.analytics.kpis`: the values of
tests/analytics/test_kpis.py as the API writes them, the schema it publishes, and a 400
with a reason for bad input."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from app.analytics.kpis import DEFINITIONS, KPI_DEFINITIONS, SERIES_KPIS
from app.api.metrics import METRICS
from tests.analytics.store import build_analytics_store, set_predicted_clv
from tests.test_metrics_api import get

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def store(ctx, shop, other_shop):
    return build_analytics_store(shop, other_shop)


def test_the_kpis_of_march_as_the_api_writes_them(client, store):
    response = get(client, "/api/metrics", **MARCH, interval="week")

    assert response.status_code == 200
    body = response.get_json()
    assert {key: body[key] for key in (
        "revenue", "orders", "first_orders", "returning_orders", "average_order_value_first",
        "average_order_value_returning", "purchase_frequency", "average_days_between_orders",
        "retention_rate", "churn_rate", "previous_period_customers", "retained_customers",
        "checkout_abandonment_rate", "emails_sent", "email_open_rate", "email_click_rate",
        "email_unsubscribes", "flow_orders", "flow_revenue", "points_issued",
        "points_redeemed", "points_redemption_rate", "historic_clv", "predicted_clv",
        "predicted_clv_customers")} == {
        "revenue": "345.00", "orders": 8, "first_orders": 3, "returning_orders": 4,
        "average_order_value_first": "40.00", "average_order_value_returning": "53.75",
        "purchase_frequency": "1.17", "average_days_between_orders": "35.8",
        "retention_rate": "0.6667", "churn_rate": "0.3333", "previous_period_customers": 3,
        "retained_customers": 2, "checkout_abandonment_rate": "0.4000", "emails_sent": 3,
        "email_open_rate": "0.6667", "email_click_rate": "0.3333", "email_unsubscribes": 1,
        "flow_orders": 2, "flow_revenue": "110.00", "points_issued": 170,
        "points_redeemed": 60, "points_redemption_rate": "0.3529", "historic_clv": "78.75",
        "predicted_clv": None, "predicted_clv_customers": 0}
    assert "predictions" in body["predicted_clv_note"]
    assert body["definitions"] == DEFINITIONS
    assert set(KPI_DEFINITIONS) <= set(body["definitions"])
    week = body["series"][3]  # 16-22 March
    assert {key: week[key] for key in ("returning_orders", "retention_rate", "churn_rate",
                                       "points_redeemed", "flow_revenue")} == {
        "returning_orders": 1, "retention_rate": "0.5000", "churn_rate": "0.5000",
        "points_redeemed": 60, "flow_revenue": "40.00"}
    assert all(set(SERIES_KPIS) <= set(entry) for entry in body["series"])
    Draft202012Validator(METRICS).validate(body)


def test_predicted_clv_and_the_previous_period(client, store):
    set_predicted_clv(store.shop.id, {"ada": "300.00", "cy": "100.00"})

    body = get(client, "/api/metrics", **MARCH, compare="previous").get_json()

    assert (body["predicted_clv"], body["predicted_clv_customers"]) == ("200.00", 2)
    assert body["predicted_clv_note"] is None
    # 29 Jan - 28 Feb: A0 50, C1 70, I1 55: 3 orders, all by customers
    previous = body["previous"]
    assert (previous["orders"], previous["revenue"]) == (3, "175.00")
    # Each is its customer's first order ever: A0 (Ada), C1 (Cy), I1 (Ivy)
    assert (previous["first_orders"], previous["returning_orders"]) == (3, 0)
    Draft202012Validator(METRICS).validate(body)


@pytest.mark.parametrize(("query", "field", "words"), [
    ({"from": "2026-13-01"}, "from", "YYYY-MM-DD"),
    ({"from": "2026-03-31", "to": "2026-03-01"}, "to", "before"),
    ({**MARCH, "interval": "year"}, "interval", "day, week, month"),
    ({"from": "2015-01-01", "to": "2026-03-01"}, "from", "5 years"),
    ({"to": "2026-03-01"}, "from", "required"),
    ({**MARCH, "compare": "last_year"}, "compare", "previous"),
])
def test_bad_input_is_a_400_with_the_reason(client, store, query, field, words):
    response = get(client, "/api/metrics", **query)

    assert response.status_code == 400
    body = response.get_json()
    assert body["field"] == field
    assert words in body["message"]
