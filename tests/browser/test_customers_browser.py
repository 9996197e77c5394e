"""Customers in a real browser: find one by email, open the profile, add a note and a tag and
find them after a reload; a name that is markup from the internet stays text."""

from __future__ import annotations

from flask import current_app
from playwright.sync_api import expect

from tests.browser.support import commit_test_writes, goto, shot, sign_in_browser
from tests.conftest import post_webhook, run_worker
from tests.factories import customer_payload


def test_find_a_customer_by_email_then_note_and_tag_them(signed_in_page):
    page = signed_in_page
    goto(page, "/admin/customers", "customers")
    # given the list of the small store's five customers
    expect(page.locator("#customers-table tbody tr")).to_have_count(5)

    # when the merchant searches for one by email
    with page.expect_navigation():
        page.fill("#q", "grace.hopper@example.com")
        page.press("#q", "Enter")
    shot(page, "customers-search")
    # then only she is listed, and her row opens her profile
    rows = page.locator("#customers-table tbody tr")
    expect(rows).to_have_count(1)
    with page.expect_navigation():
        rows.first.get_by_role("link", name="Grace Hopper").click()
    expect(page.locator("h1.Page-title")).to_contain_text("Grace Hopper")
    shot(page, "profile")

    # when they add a note and a tag
    note = "Prefers email over phone; asked about the winter range."
    page.fill("#body", note)
    with page.expect_navigation():
        page.get_by_role("button", name="Add note").click()
    page.fill("#tag", "VIP")
    with page.expect_navigation():
        page.get_by_role("button", name="Add tag").click()

    # then after a reload both are on the profile and on its timeline
    page.reload()
    shot(page, "profile-after-reload")
    expect(page.locator("#notes .Note-body")).to_have_text([note])
    expect(page.locator("#tags .Tag")).to_contain_text(["VIP"])
    expect(page.locator("#timeline")).to_contain_text("VIP")
    expect(page.locator("#timeline")).to_contain_text("Prefers email over phone")

    # and the list finds her by the tag
    goto(page, "/admin/customers?q=vip", "customers-by-tag")
    expect(page.locator("#customers-table tbody tr")).to_have_count(1)
    expect(page.locator("#customers-table")).to_contain_text("Grace Hopper")


def test_a_customer_named_with_markup_is_shown_as_text_and_runs_nothing(page, shop):
    # given a shopper who signed up with a script as their name
    app = current_app._get_current_object()
    name = "<script>alert(1)</script>"
    payload = customer_payload(email="xss@example.com", first_name=name,
                               last_name='<img src=x onerror="alert(2)">')
    assert post_webhook(app.test_client(), "customers/create", payload).status_code == 200
    run_worker(app)
    commit_test_writes()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in_browser(page, shop)

    # when the merchant opens the list, the profile, and the dashboard's activity
    goto(page, "/admin/customers", "customers-markup-name")
    link = page.locator("#customers-table tbody tr").first.locator("a").first
    expect(link).to_contain_text(name)
    with page.expect_navigation():
        link.click()
    shot(page, "profile-markup-name")
    expect(page.locator("h1.Page-title")).to_contain_text(name)
    goto(page, "/admin", "dashboard-markup-name")
    page.wait_for_timeout(300)

    # then the name is text on every page, and no script ran
    assert dialogs == []
    assert page.evaluate("document.querySelectorAll('img[src=x]').length") == 0
