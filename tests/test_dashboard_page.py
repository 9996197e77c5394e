"""The Dashboard page (`/admin`): the store's figures with their definitions, charts as
Plotly figures, the empty state, the range picker's errors, and the latest activity."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from markupsafe import escape

from app.accounts.service import create_account, link_account_to_shop
from app.analytics.metrics import DEFINITIONS
from app.db import db
from app.shops.models import Shop
from tests.conftest import post_webhook, run_worker
from tests.factories import customer_payload, order_payload, refund_payload
from tests.test_accounts import EMAIL, PASSWORD, csrf_from, log_in
from tests.test_api import session_token
from tests.test_metrics import apply, build_store, order, person

MARCH_BY_WEEK = {"range": "custom", "from": "2026-03-01", "to": "2026-03-31",
                 "interval": "week"}


def sign_in_to(client, shop: Shop) -> None:
    account = create_account(db.session, EMAIL, PASSWORD)
    link_account_to_shop(db.session, account.id, shop.id)
    db.session.commit()
    log_in(client)
    token = csrf_from(client, "/admin/stores")
    assert client.post("/admin/stores/select", data={"shop_id": shop.id,
                                                     "csrf_token": token}).status_code == 302


def metric(page: str, name: str) -> str:
    match = re.search(rf'data-metric="{name}">([^<]*)<', page)
    assert match, f"no figure {name} on the page"
    return html.unescape(match.group(1)).strip()


def figure(page: str, name: str) -> dict:
    match = re.search(rf'<script type="application/json" id="figure-{name}">(.*?)</script>',
                      page, re.S)
    assert match, f"no figure-{name} on the page"
    return json.loads(match.group(1))


@pytest.fixture
def store(ctx, client, shop, other_shop):
    built = build_store(shop, other_shop)
    sign_in_to(client, built.shop)
    return built


def test_the_dashboard_shows_the_stores_figures_with_their_definitions(client, store):
    response = client.get("/admin", query_string=MARCH_BY_WEEK)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # The figures of tests/test_metrics.py, as a merchant reads them
    assert {name: metric(page, name) for name in (
        "revenue", "orders", "average_order_value", "customers", "new_customers",
        "returning_customers", "repeat_purchase_rate", "checkouts_started", "checkouts_open",
        "checkouts_abandoned", "checkouts_recovered", "recovery_rate")} == {
        "revenue": "$300.00", "orders": "7", "average_order_value": "$42.86",
        "customers": "5", "new_customers": "3", "returning_customers": "2",
        "repeat_purchase_rate": "60.0%", "checkouts_started": "5", "checkouts_open": "2",
        "checkouts_abandoned": "1", "checkouts_recovered": "1", "recovery_rate": "50.0%"}
    for name in ("revenue", "orders", "repeat_purchase_rate", "recovery_rate"):
        assert str(escape(DEFINITIONS[name])) in page
    # Compared with 29 Jan - 28 Feb: 120.00 in 2 orders (A0, C1); +150% and +250%
    assert "compared with Jan 29 – Feb 28, 2026" in page
    assert "↑ 150% from $120.00" in page and "↑ 250% from 2" in page
    # The range as the store's days, in its zone and currency
    assert 'data-from="2026-03-01"' in page and 'data-to="2026-03-31"' in page
    assert "Mar 1 – Mar 31, 2026" in page and "America/New_York" in page and "USD" in page
    assert 'value="2026-03-01"' in page and '<option selected value="week">' in page


def test_the_charts_are_plotly_figures_of_the_series(client, store):
    page = client.get("/admin", query_string=MARCH_BY_WEEK).get_data(as_text=True)

    assert '<script src="/assets/plotly.min.js?v=' in page
    for name in ("revenue", "customers", "checkouts"):
        assert f'<div class="Chart" id="chart-{name}" data-figure="figure-{name}"' in page
    revenue, orders = figure(page, "revenue")["data"]
    assert revenue["x"][0] == "Week of Feb 23 (Mar 1–Mar 1)"  # a week cut by the range
    assert revenue["x"][-1] == "Week of Mar 30 (Mar 30–Mar 31)"
    assert revenue["y"] == [15.0, 70.0, 105.0, 50.0, 0.0, 60.0]
    assert orders["y"] == [1, 1, 2, 2, 0, 1] and orders["yaxis"] == "y2"
    new, returning = figure(page, "customers")["data"]
    assert (new["y"], returning["y"]) == ([1, 0, 2, 0, 0, 0], [0, 1, 0, 1, 0, 1])
    completed, recovered, abandoned, still_open = figure(page, "checkouts")["data"]
    assert (completed["y"], recovered["y"]) == ([0, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0])
    assert (abandoned["y"], still_open["y"]) == ([0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 2, 0])


def test_a_range_without_orders_explains_itself_instead_of_an_empty_chart(client, store):
    response = client.get("/admin", query_string={"range": "custom", "from": "2025-06-01",
                                                  "to": "2025-06-30"})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "No orders in this range" in page
    assert "No order was placed from Jun 1 – Jun 30, 2025 (days in America/New_York)" in page
    assert 'id="chart-revenue"' not in page and 'id="chart-customers"' not in page
    assert "No checkout was started from Jun 1 – Jun 30, 2025." in page
    assert "Show the last 12 months" in page


@pytest.mark.parametrize(("query", "field", "reason"), [
    ({"range": "custom", "from": "2026-03-31", "to": "2026-03-01"}, "to",
     "to (2026-03-01) is before from (2026-03-31)"),
    ({"range": "custom", "from": "31/03/2026"}, "from",
     "from must be a date written YYYY-MM-DD, got &#39;31/03/2026&#39;"),
    ({"range": "custom", "from": "2019-01-01", "to": "2026-03-01"}, "from",
     "longer than 5 years"),
    ({"interval": "hourly"}, "interval", "interval must be one of day, week, month"),
    ({"range": "<script>"}, "range", "range must be one of"),
])
def test_a_bad_range_is_a_400_with_the_reason_next_to_the_field(client, store, query, field,
                                                                 reason):
    response = client.get("/admin", query_string=query)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    error = re.search(rf'<div class="Field-error" id="{field}-error">(.*?)</div>', page, re.S)
    assert error and reason in error.group(1)
    assert "<script>" not in error.group(1)
    # and the page still shows figures, saying which
    assert "cannot be shown, so these are the last 30 days" in page


def test_latest_activity_links_each_shopper_to_their_profile(client, store):
    # given a shopper whose name is markup
    apply(store.shop.id, order("H1", datetime.now(UTC) - timedelta(minutes=5), "12.00",
                               replace(person("hal"), first_name="<b>Hal</b>")))

    page = client.get("/admin").get_data(as_text=True)

    activity = page[page.index('id="activity"'):]
    link = re.search(r'<a href="(/admin/customers/\d+)" class="text-strong">([^<]*)</a> '
                     r'placed order #H1 \(\$12.00\)', activity)
    assert link, activity[:2000]
    assert link.group(2) == "&lt;b&gt;Hal&lt;/b&gt; Tester"
    assert "<b>Hal</b>" not in page


def test_orders_arriving_by_webhook_are_on_the_dashboard(app, client, ctx, shop):
    # given Ada's order of 100.00 on 1 March (12:00 UTC) and a 25.00 refund, by webhook
    ada = customer_payload(email="ada@example.com")
    embedded = {k: ada[k] for k in ("id", "email", "first_name", "last_name")}
    placed = order_payload(customer=embedded, total="100.00")
    for topic, payload in (("customers/create", ada), ("orders/create", placed),
                           ("refunds/create", refund_payload(order_id=placed["id"],
                                                             amount="25.00"))):
        assert post_webhook(client, topic, payload).status_code == 200
    run_worker(app)
    sign_in_to(client, shop)

    page = client.get("/admin", query_string={"from": "2026-03-01", "to": "2026-03-01"}
                      ).get_data(as_text=True)

    # then: 100 - 25 = 75 in one order, from one new customer (the store's zone is UTC)
    assert (metric(page, "revenue"), metric(page, "orders")) == ("$75.00", "1")
    assert (metric(page, "new_customers"), metric(page, "returning_customers")) == ("1", "0")
    text = " ".join(page.split())
    assert "Only 1 order in this range: the average and the rates below say little yet." in text
    assert "days in UTC" in text


def test_the_embedded_dashboard_keeps_the_admins_parameters_in_its_form_and_links(client,
                                                                                  ctx, shop,
                                                                                  other_shop):
    # given the store opened from the Shopify admin (marked local, so no token exchange)
    built = build_store(shop, other_shop)
    db.session.get(Shop, built.shop.id).demo = True
    db.session.commit()
    embedded = {"shop": "sticky-test.myshopify.com", "host": "YWRtaW4uc2hvcGlmeS5jb20",
                "embedded": "1"}

    response = client.get("/admin", query_string={
        **embedded, "id_token": session_token("sticky-test.myshopify.com"), **MARCH_BY_WEEK})

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert metric(page, "revenue") == "$300.00"
    form = page[page.index('id="range-form"'):page.index("</form>")]
    for name, value in embedded.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in form
    assert "id_token" not in form  # a fresh one comes with the next document request
    assert re.search(r'href="/admin/customers/\d+\?shop=sticky-test.myshopify.com&amp;'
                     r'embedded=1&amp;host=YWRtaW4uc2hvcGlmeS5jb20"', page)
