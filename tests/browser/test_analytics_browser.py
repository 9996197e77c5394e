"""The Analytics page in a real browser: the merchant opens it from the nav, Plotly draws
the KPI charts and the cohort heat map from the store's figures, and another date range
changes the figures and the heat map's rows."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import expect

from tests.browser.support import SMALL_STORE, follow, goto, shot


def _months(first: date, last: date) -> list[str]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month.strftime("%b %Y"))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


def _heat_rows(page) -> list[str]:
    return page.evaluate("() => document.getElementById('chart-cohorts').data[0].y")


def _shown_range(page) -> tuple[date, date]:
    summary = page.locator("#range-summary")
    return (date.fromisoformat(summary.get_attribute("data-from")),
            date.fromisoformat(summary.get_attribute("data-to")))


def test_analytics_opens_from_the_nav_and_a_new_range_redraws_the_heat_map(signed_in_page):
    page = signed_in_page
    buyers = sum(1 for _, _, totals in SMALL_STORE if totals)  # 4 of the 5 customers
    goto(page, "/admin", "dashboard")

    # when the merchant opens Analytics from the nav (the last 12 months by default)
    follow(page, page.get_by_role("link", name="Analytics").first, "analytics-12-months")

    # then the small store's figures, and the heat map: a row per month of the range, its
    # cohorts holding every customer who ordered (all in the last 60 days)
    expect(page.locator('[data-metric="kpi-orders"]')).to_have_text("7")
    expect(page.locator('[data-metric="kpi-revenue"]')).to_have_text("$651.74")
    expect(page.locator("#analytics-tabs [aria-current=page]")).to_have_text("Overview")
    heat = page.locator("#chart-cohorts")
    expect(heat.locator(".main-svg").first).to_be_visible()
    expect(heat.locator("g.hm, .heatmaplayer").first).to_be_attached()
    rows = _heat_rows(page)
    assert [row.split(" (")[0] for row in rows] == _months(*_shown_range(page))
    assert sum(int(re.search(r"\((\d+)\)", row).group(1)) for row in rows) == buyers
    expect(page.locator("#chart-cohort-revenue .main-svg").first).to_be_visible()
    expect(page.locator("#chart-retention .main-svg").first).to_be_visible()

    # when they choose the last 30 days
    with page.expect_navigation():
        page.select_option("#range", "last_30_days")
    shot(page, "analytics-30-days")

    # then only Katherine's order counts, and the heat map has the range's months only
    expect(page.locator('[data-metric="kpi-revenue"]')).to_have_text("$99.99")
    assert "range=last_30_days" in page.url
    expect(heat.locator(".main-svg").first).to_be_visible()
    first, last = _shown_range(page)
    assert (last - first).days == 29
    assert [row.split(" (")[0] for row in _heat_rows(page)] == _months(first, last)

    # and the Cohorts tab leads to the heat map on the same page
    page.locator('#analytics-tabs [data-tab="cohorts"]').click()
    expect(page.locator("#cohorts")).to_be_in_viewport()
