"""The Dashboard in a real browser: Plotly draws the charts from the store's figures, and
choosing another date range changes the figures and the charts."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import expect

from tests.browser.support import SMALL_STORE, goto, shot


def _chart_total(page, chart_id: str, trace: int = 0) -> Decimal:
    """The sum of one trace's y values, as Plotly holds them in the drawn chart."""
    values = page.evaluate(
        "([id, trace]) => document.getElementById(id).data[trace].y", [chart_id, trace])
    return sum((Decimal(str(v)) for v in values), Decimal("0"))


def test_the_charts_render_the_figures_and_a_new_range_changes_them(signed_in_page):
    page = signed_in_page
    # given the small store: of its seven orders, only Katherine's ($99.99, 23 days ago) is
    # in the last 30 days; all seven ($651.74) are in the last 90 (tests/browser/support.py)
    every_total = sum(Decimal(t) for _, _, totals in SMALL_STORE for t in totals)
    assert every_total == Decimal("651.74")

    # when the merchant opens the dashboard (last 30 days by default)
    goto(page, "/admin", "dashboard-30-days")

    # then the figures are the store's, and Plotly drew the revenue chart from them
    expect(page.locator('[data-metric="revenue"]')).to_have_text("$99.99")
    expect(page.locator('[data-metric="orders"]')).to_have_text("1")
    revenue_chart = page.locator("#chart-revenue")
    expect(revenue_chart.locator(".main-svg").first).to_be_visible()
    expect(revenue_chart.locator("g.trace").first).to_be_attached()
    assert _chart_total(page, "chart-revenue") == Decimal("99.99")
    expect(page.locator("#chart-customers .main-svg").first).to_be_visible()

    # when they choose the last 90 days
    with page.expect_navigation():
        page.select_option("#range", "last_90_days")
    shot(page, "dashboard-90-days")

    # then every order counts, in the figures and in the chart
    expect(page.locator('[data-metric="revenue"]')).to_have_text("$651.74")
    expect(page.locator('[data-metric="orders"]')).to_have_text("7")
    assert _chart_total(page, "chart-revenue") == every_total
    assert "range=last_90_days" in page.url


def test_a_range_with_no_orders_explains_itself_instead_of_an_empty_chart(signed_in_page):
    page = signed_in_page
    goto(page, "/admin?range=today", "dashboard-today")
    expect(page.locator("#no-orders")).to_be_visible()
    expect(page.locator("#chart-revenue")).to_have_count(0)
