"""A referred friend on a phone: the link opens the landing page, the form gives them their
code; and the merchant sees the blocked referral in the panel and approves it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from app.db import db
from tests.browser.support import goto, shot, sign_in_browser
from tests.loyalty.referral_support import (
    friend_code_of,
    make_advocate,
    referral_for,
    run_referrals,
)


def test_a_friend_claims_their_code_and_the_merchant_approves_a_blocked_one(
        browser, page, shop, shopify_discounts):
    session = db.session
    run_referrals(session, shop)
    _, code = make_advocate(session, shop)

    # a friend opens the link on a narrow screen
    page.set_viewport_size({"width": 375, "height": 740})
    goto(page, f"/r/{shop.id}/{code}", "landing")
    expect(page.locator("h1")).to_have_text("Ada sent you a gift")
    expect(page.locator(".offer")).to_contain_text("$10.00 off your first order")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    page.fill("#email", "not an email")
    page.click("button[type=submit]")
    expect(page.locator("#email-error")).to_contain_text("Enter an email address")
    page.fill("#email", "grace@example.com")
    page.fill("#first_name", "Grace")
    page.click("button[type=submit]")
    expect(page.locator("#referral-code")).to_have_text(re.compile(r"\S+"))
    session.rollback()
    made = friend_code_of(session, "grace@example.com")
    expect(page.locator("#referral-code")).to_have_text(made)
    (sent,) = shopify_discounts.discounts_sent()
    assert sent["code"] == made and sent["context"] == {"all": "ALL"}
    shot(page, "landing-code")

    # someone with the advocate's name is turned away politely
    goto(page, f"/r/{shop.id}/{code}", "landing-again")
    page.fill("#email", "countess@example.org")
    page.fill("#first_name", "Ada")
    page.fill("#last_name", "Lovelace")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("We can't offer this gift to you")
    expect(page.locator("body")).not_to_contain_text("advocate")
    shot(page, "landing-blocked")

    # the merchant finds it under Blocked, with the reason, and approves it
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_browser(page, shop)
    goto(page, "/admin/loyalty/referrals?status=blocked", "referrals-blocked")
    row = page.locator("#referrals-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("The friend has the advocate's name (Ada Lovelace).")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator(".Banner--success")).to_contain_text("Referral approved")
    expect(page.locator("#referrals-table")).to_have_count(0)  # no blocked one left
    shot(page, "referrals-approved")
    session.rollback()
    assert referral_for(session, "countess@example.org").status == "approved"
    assert shopify_discounts.creations == 2  # the approved friend's code, made on approval
