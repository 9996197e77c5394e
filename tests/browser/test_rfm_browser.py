"""RFM in a real browser: the merchant recomputes the scores, reads the segments, opens
the Champions in the customer list and sees the segment on a profile."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import expect

from app.db import db
from tests.analytics.rfm_support import hand_store
from tests.browser.support import follow, goto, shot, sign_in_browser


def test_recompute_then_follow_a_segment_to_its_customers(page, shop):
    # given the hand-worked store of tests/analytics/rfm_support.py, never scored
    rows = hand_store(db.session, shop, as_of=datetime.now(UTC))
    a_id = rows["A"].id
    sign_in_browser(page, shop)
    goto(page, "/admin/analytics/rfm", "rfm-not-scored")
    expect(page.locator("#rfm-empty")).to_contain_text("Not scored yet")
    expect(page.locator("#rfm-rules-table")).to_contain_text("Can't Lose Them")

    # when the merchant presses "Recompute now"
    follow(page, page.locator("#rfm-recompute"), "rfm-scored")

    # then the segments are listed with their figures, and the grid is drawn
    expect(page.get_by_role("status").first).to_contain_text("Scores recomputed for 10 customers")
    champions = page.locator('tr[data-segment="Champions"]')
    expect(champions.locator('[data-figure="customers"]')).to_have_text("2")
    expect(champions.locator('[data-figure="revenue_share"]')).to_have_text("37.5%")
    expect(page.locator('#rfm-grid-table td[data-r="2"][data-f="1"]')).to_have_text("3")
    expect(page.locator("#rfm-computed")).to_contain_text("over 10 customers")

    # when they open the Champions
    follow(page, champions.get_by_role("link", name="Champions"), "rfm-champions-list")
    # then the customer list shows those two
    assert "segment=Champions" in page.url
    expect(page.locator("#customers-table tbody tr")).to_have_count(2)

    # and a Champion's profile shows the scores and the segment
    goto(page, f"/admin/customers/{a_id}", "rfm-profile")
    expect(page.locator("#rfm-segment")).to_have_text("Champions")
    expect(page.locator("#rfm-r")).to_have_text("5")
    expect(page.locator("#rfm-f")).to_have_text("5")
    expect(page.locator("#rfm-m")).to_have_text("5")
    shot(page, "rfm-profile-card")
