"""The Analytics page (`/admin/analytics`): the KPIs of tests/analytics/test_kpis.py with
their definitions and changes, the charts as Plotly figures, the cohort heat map, the tab
bar, the nav, the empty store and bad ranges."""

from __future__ import annotations

import pytest

from app.analytics.kpis import DEFINITIONS
from tests.analytics.store import build_analytics_store, set_predicted_clv
from tests.test_dashboard_page import figure, metric, sign_in_to

MARCH_BY_WEEK = {"range": "custom", "from": "2026-03-01", "to": "2026-03-31",
                 "interval": "week"}


@pytest.fixture
def store(ctx, client, shop, other_shop):
    built = build_analytics_store(shop, other_shop)
    sign_in_to(client, built.shop)
    return built


def test_the_kpis_with_definitions_and_changes(client, store):
    response = client.get("/admin/analytics", query_string=MARCH_BY_WEEK)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert metric(page, "kpi-revenue") == "$345.00"
    assert metric(page, "kpi-average_order_value_first") == "$40.00"
    assert metric(page, "kpi-average_order_value_returning") == "$53.75"
    assert metric(page, "kpi-purchase_frequency") == "1.17"
    assert metric(page, "kpi-average_days_between_orders") == "35.8 days"
    assert metric(page, "kpi-retention_rate") == "66.7%"
    assert metric(page, "kpi-churn_rate") == "33.3%"
    assert metric(page, "kpi-checkout_abandonment_rate") == "40.0%"
    assert metric(page, "kpi-email_open_rate") == "66.7%"
    assert metric(page, "kpi-flow_revenue") == "$110.00"
    assert metric(page, "kpi-points_redemption_rate") == "35.3%"
    assert metric(page, "kpi-historic_clv") == "$78.75"
    assert metric(page, "kpi-predicted_clv") == "—"
    assert "No customer has a predicted lifetime value yet" in page
    # Each definition next to its figure (HTML-escaped as the page writes it)
    for key in ("retention_rate", "average_days_between_orders", "historic_clv"):
        assert DEFINITIONS[key].replace("'", "&#39;") in page
    # The period before (29 Jan - 28 Feb): 3 orders, 175.00; 345 / 175 = +97%
    assert "compared with Jan 29 – Feb 28, 2026" in page
    assert "↑ 97% from $175.00" in page
    # Retention in the period before: its own period before (31 Dec - 28 Jan): Hal (5 Jan)
    # did not order from 29 Jan to 28 Feb: 0%; now 66.7%: +66.7 points
    assert "↑ 66.7 pts from 0.0%" in page


def test_charts_and_the_cohort_heat_map(client, store):
    page = client.get("/admin/analytics", query_string={
        "range": "custom", "from": "2026-01-01", "to": "2026-03-31", "interval": "month"}
    ).get_data(as_text=True)

    retention = figure(page, "retention")
    assert [t["name"] for t in retention["data"]] == ["Retention", "Churn"]
    # January (against December: nobody), February (Hal: 0 of 1), March (2 of 3)
    assert retention["data"][0]["y"] == [None, 0.0, 66.7]
    heat = figure(page, "cohorts")["data"][0]
    assert heat["type"] == "heatmap"
    assert heat["y"] == ["Jan 2026 (1)", "Feb 2026 (3)", "Mar 2026 (3)"]
    # February's row: month 0 none, month 1 Ada and Cy (2 of 3), then nobody
    assert heat["z"][1][:3] == [0.0, 66.7, 0.0]
    assert heat["text"][1][1] == "67%"
    assert heat["customdata"][1][1][:3] == ["Mar 2026", 2, 3]
    revenue = figure(page, "cohort-revenue")
    assert revenue["data"][1]["y"][:2] == [58.33, 101.67]  # 175 / 3, 305 / 3
    assert 'data-cohort="2026-02"' in page


def test_tabs_and_nav(client, store, app):
    page = client.get("/admin/analytics").get_data(as_text=True)

    assert 'data-tab="overview" aria-current="page"' in page
    assert 'href="/admin/analytics#cohorts" data-tab="cohorts"' in page
    assert 'href="/admin/analytics/rfm" data-tab="rfm"' in page
    assert 'href="/admin/analytics/predictions" data-tab="predictions"' in page
    # The nav: Analytics between Flows and Settings
    nav = page[page.index('aria-label="Main"') if 'aria-label="Main"' in page else 0:]
    assert nav.index(">Flows<") < nav.index("Analytics</a>") < nav.index("Settings</a>")


@pytest.mark.parametrize(("path", "tab"), [("/admin/analytics/rfm", "rfm"),
                                            ("/admin/analytics/predictions", "predictions")])
def test_the_other_analytics_pages_carry_the_tabs(client, store, path, tab):
    page = client.get(path).get_data(as_text=True)

    assert f'data-tab="{tab}" aria-current="page"' in page
    assert 'href="/admin/analytics" data-tab="overview"' in page
    assert page.count('data-tab="') == 4


def test_predicted_clv_shows_once_there_are_predictions(client, store):
    set_predicted_clv(store.shop.id, {"ada": "200.00", "bob": "100.50"})

    page = client.get("/admin/analytics", query_string=MARCH_BY_WEEK).get_data(as_text=True)

    assert metric(page, "kpi-predicted_clv") == "$150.25"
    assert "From 2 customers&#39; predictions." in page


def test_an_empty_store_says_what_will_show_and_when(ctx, client, shop):
    sign_in_to(client, shop)

    response = client.get("/admin/analytics")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="analytics-empty"' in page
    assert "Your analytics start with your first order" in page
    assert "retention and churn once customers have ordered in two periods" in page
    assert 'id="no-cohorts"' in page


@pytest.mark.parametrize(("query", "words"), [
    ({"range": "custom", "from": "2026-03-31", "to": "2026-03-01"}, "is before from"),
    ({"range": "custom", "from": "March"}, "YYYY-MM-DD"),
    ({"range": "forever"}, "range must be one of"),
])
def test_a_bad_range_is_a_400_with_the_reason_at_the_field(client, store, query, words):
    response = client.get("/admin/analytics", query_string=query)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert words in page
    assert 'id="range-invalid"' in page
