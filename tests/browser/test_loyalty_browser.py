"""Loyalty in a real browser: edit the program and save it, see the reason next to a bad
field, add a tier row, the widget preview following edits, add a reward, adjust a
customer's points with a reason and find it in their history, and the switch embedded in
the Shopify admin."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from app.db import db
from app.loyalty.models import LoyaltyReward
from app.loyalty.program import read_program
from tests.browser.support import embedded_path, goto, shot, sign_in_browser


def test_edit_the_program_add_a_tier_and_save_then_a_bad_field_is_refused_beside_it(page, shop):
    sign_in_browser(page, shop)
    goto(page, "/admin/loyalty", "loyalty-overview")
    expect(page.locator("#loyalty-state")).to_have_text("The program is off.")
    with page.expect_navigation():
        page.get_by_role("link", name="Program settings").click()
    shot(page, "program-settings")

    # when the merchant sets their earning rules and adds a tier row (a plain form submit)
    page.check("#enabled")
    page.fill("#points_per_unit", "2")
    page.fill("#pending_days", "14")
    page.fill("#signup_points", "50")
    with page.expect_navigation():
        page.get_by_role("button", name="Add a tier").click()
    expect(page.locator("#unsaved")).to_contain_text("Not saved yet")
    expect(page.locator("#points_per_unit")).to_have_value("2")  # kept across the round trip
    page.fill("#tiers-0-name", "Gold")
    page.fill("#tiers-0-threshold", "500")
    page.fill("#tiers-0-multiplier", "1.5")
    page.fill("#tiers-0-perks", "Free shipping on every order")
    shot(page, "tier-row-added")
    with page.expect_navigation():
        page.click("#save-program")
    shot(page, "program-saved")

    # then it is saved, and the page shows it
    expect(page.locator(".Banner--success")).to_contain_text("Program saved")
    expect(page.locator("#tiers-0-name")).to_have_value("Gold")
    db.session.rollback()
    program = read_program(db.session, shop.id)
    assert (program.enabled, str(program.points_per_unit), program.pending_days,
            program.signup_points) == (True, "2", 14, 50)
    assert [(t.name, str(t.threshold), str(t.multiplier)) for t in program.tiers] == [
        ("Gold", "500", "1.5")]
    db.session.rollback()  # end the read: on SQLite it would hold off the page's next save

    # when a field is wrong, the reason is next to it and nothing is saved
    page.fill("#pending_days", "400")
    page.fill("#points_per_unit", "3")
    with page.expect_navigation():
        page.press("#points_per_unit", "Enter")  # Enter saves; it does not add a tier
    shot(page, "program-refused")
    expect(page.locator("#pending_days-error")).to_contain_text("from 0 to 365")
    expect(page.locator("#pending_days")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#program-errors")).to_contain_text("not saved")
    expect(page.locator(".TierRow")).to_have_count(1)
    db.session.rollback()
    assert str(read_program(db.session, shop.id).points_per_unit) == "2"


def test_the_preview_iframe_follows_the_forms_edits(page, shop, live_server):
    sign_in_browser(page, shop)
    goto(page, "/admin/loyalty/program", "program-settings")
    frame = page.locator("#loyalty-preview")
    first = frame.get_attribute("src")
    assert urlsplit(first).path == "/admin/loyalty/preview"
    assert parse_qs(urlsplit(first).query)["points_per_unit"] == ["1"]

    # when the merchant types a new rate and ticks a box
    page.fill("#points_per_unit", "7")
    page.check("#include_shipping")
    # then, once typing pauses, the preview is asked for the form as it now stands
    expect(frame).to_have_attribute("src", re.compile(r"points_per_unit=7(&|$)"))
    expect(frame).to_have_attribute("src", re.compile(r"include_shipping=y"))
    query = parse_qs(urlsplit(frame.get_attribute("src")).query)
    assert "csrf_token" not in query and query["award_on"] == ["paid"]
    page.wait_for_load_state("load")
    assert any("points_per_unit=7" in r.query for r in live_server.served(
        "/admin/loyalty/preview")), "the iframe loaded the new address"
    shot(page, "preview-followed")


def test_add_a_reward_then_adjust_a_customers_points_with_a_reason(signed_in_page, shop):
    page = signed_in_page
    goto(page, "/admin/loyalty/rewards", "rewards-empty")
    with page.expect_navigation():
        page.get_by_role("link", name="Add reward").first.click()
    page.fill("#name", "$5 off your next order")
    page.select_option("#kind", "fixed_amount")
    page.fill("#value", "5")
    page.fill("#points_cost", "0")
    with page.expect_navigation():
        page.click("#save-reward")
    shot(page, "reward-refused")
    expect(page.locator("#points_cost-error")).to_contain_text("whole number of points")
    page.fill("#points_cost", "500")
    with page.expect_navigation():
        page.click("#save-reward")
    shot(page, "rewards-listed")
    row = page.locator("#rewards-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("$5.00 off")
    expect(row).to_contain_text("500")
    db.session.rollback()
    assert db.session.query(LoyaltyReward).one().points_cost == 500

    # the customer's Loyalty card: adjust with a reason, see it in the history
    goto(page, "/admin/customers", "customers")
    with page.expect_navigation():
        page.get_by_role("link", name="Ada Lovelace").click()
    card = page.locator("#loyalty")
    expect(card.locator("#loyalty-balance")).to_have_text("0")
    page.fill("#points", "150")
    with page.expect_navigation():
        page.click("#adjust-submit")
    expect(page.locator("#reason-error")).to_contain_text("reason")  # a reason is required
    page.fill("#reason", "Sorry for the late parcel")
    with page.expect_navigation():
        page.click("#adjust-submit")
    shot(page, "points-adjusted")
    expect(page.locator(".Banner--success")).to_contain_text("+150 points")
    expect(card.locator("#loyalty-balance")).to_have_text("150")
    entry = card.locator("#loyalty-history li").first
    expect(entry).to_contain_text("Adjusted")
    expect(entry).to_contain_text("+150")
    expect(entry).to_contain_text("Sorry for the late parcel")

    # and the members list has her
    goto(page, "/admin/loyalty/members?sort=-balance", "members")
    expect(page.locator("#members-table tbody tr").first).to_contain_text("Ada Lovelace")
    expect(page.locator("#members-table tbody tr").first).to_contain_text("150")


def test_the_switch_turns_the_program_on_embedded_in_the_shopify_admin(embedded_page, shop):
    page = embedded_page
    goto(page, embedded_path(shop, "/admin/loyalty"), "loyalty-embedded")
    switch = page.locator("#loyalty-switch")
    expect(switch).to_have_attribute("aria-checked", "false")
    with page.expect_navigation():
        switch.click()
    shot(page, "loyalty-embedded-on")
    expect(page.locator("#loyalty-switch")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#loyalty-state")).to_have_text("The program is on.")
    assert "embedded=1" in page.url
    db.session.rollback()
    assert read_program(db.session, shop.id).enabled is True
