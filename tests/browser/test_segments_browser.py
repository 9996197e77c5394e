"""Segments in a real browser: build a rule and watch the live count follow each edit, save
it, then see its customers in the customer list."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.support import goto, shot


def test_build_a_segment_with_a_live_count_save_it_and_view_its_customers(signed_in_page):
    page = signed_in_page
    # given the small store: spent 242.50, 274.00, 35.25, 99.99 and 0
    goto(page, "/admin/segments/new", "segment-new")
    count = page.locator("#segment-count")
    expect(count).to_have_text("5")  # no condition yet: everyone

    # when the merchant asks for customers who spent at least 100
    page.fill("#name", "Spent 100 or more")
    page.select_option("#groups-0-rows-0-field", "total_spent")
    page.select_option("#groups-0-rows-0-op", "gte")
    page.fill("#groups-0-rows-0-value", "100")
    # then the count follows without a reload, with a preview of who matches
    expect(count).to_have_text("2")
    expect(page.locator("#segment-preview tbody tr")).to_have_count(2)
    expect(page.locator("#segment-preview")).to_contain_text("Grace Hopper")
    shot(page, "segment-live-count")
    # and lowering the amount brings in Katherine (99.99)
    page.fill("#groups-0-rows-0-value", "50")
    expect(count).to_have_text("3")
    expect(page.locator("#segment-preview")).to_contain_text("Katherine Johnson")
    # a value that is not an amount is refused next to it, live
    page.fill("#groups-0-rows-0-value", "lots")
    expect(page.locator("#groups-0-rows-0-value-error")).to_contain_text("amount")
    expect(count).to_have_text("—")
    page.fill("#groups-0-rows-0-value", "50")
    expect(count).to_have_text("3")
    # choosing a date field offers that field's conditions
    page.select_option("#groups-0-rows-0-field", "last_order_at")
    expect(page.locator("#groups-0-rows-0-op option")).to_contain_text(
        ["is before", "is after", "is more than N days ago", "is within the last N days",
         "is set", "is not set"])
    page.select_option("#groups-0-rows-0-field", "total_spent")
    page.select_option("#groups-0-rows-0-op", "gte")
    page.fill("#groups-0-rows-0-value", "50")
    expect(count).to_have_text("3")

    # when it is saved
    with page.expect_navigation():
        page.click("#save-segment")
    shot(page, "segment-saved")
    expect(page.locator(".Page-title")).to_contain_text("Spent 100 or more")
    expect(count).to_have_text("3")

    # then "View customers" lists exactly its three customers
    with page.expect_navigation():
        page.click("#view-customers")
    shot(page, "segment-customers")
    rows = page.locator("#customers-table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#customers-table")).not_to_contain_text("Alan Turing")
    expect(page.locator("#segment option:checked")).to_have_text("Spent 100 or more")

    # and the segments page lists it with its count
    goto(page, "/admin/segments", "segments-list")
    expect(page.locator("#segments-table")).to_contain_text("Spent 100 or more")
