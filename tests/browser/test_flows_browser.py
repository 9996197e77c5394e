"""Flows in a real browser: the list, a wait step edited and saved in the flow editor, the
email editor whose preview follows the subject as it is typed (rendered for one of the
store's real customers), and a template reaching Python internals refused beside its field.
Everything is served by Sticky itself: no page reaches another origin."""

from __future__ import annotations

from playwright.sync_api import expect

from app.db import db
from app.flows.models import Flow
from tests.browser.support import commit_test_writes, embedded_path, follow, goto, shot
from tests.flows_helpers import a_flow


def saved_flow(flow_id: int) -> dict:
    """The flow's saved columns, as the server saved them, read in a transaction that is
    over when this returns (on SQLite an open one would hold the write lock the page's next
    save needs; an ORM object would open one again when read after the rollback)."""
    db.session.rollback()
    db.session.expire_all()
    flow = db.session.get(Flow, flow_id)
    saved = {"definition": flow.definition, "version": flow.version, "status": flow.status}
    db.session.rollback()
    return saved


def test_edit_a_wait_then_the_email_with_its_live_preview_and_a_refusal(signed_in_page, shop,
                                                                      seeded_store):
    page = signed_in_page
    flow = a_flow(db.session, shop, name="Welcome series")
    commit_test_writes()

    # the list shows the flow as a draft, with its figures
    goto(page, "/admin/flows", "flows-list")
    row = page.locator(f"#flow-{flow.id}")
    expect(row).to_contain_text("Welcome series")
    expect(row).to_contain_text("Draft")
    expect(row.locator('[data-figure="sent"]')).to_have_text("0")
    follow(page, row.get_by_role("link", name="Welcome series"), "flow-editor")

    # only the settings of the chosen trigger and wait show
    expect(page.locator("#days_before")).to_be_hidden()
    page.select_option("#trigger_type", "date")
    expect(page.locator("#days_before")).to_be_visible()
    expect(page.locator("#trigger_event")).to_be_hidden()
    page.select_option("#trigger_type", "event")
    expect(page.locator("#steps-0-until")).to_be_hidden()

    # when the merchant makes the wait three days and saves
    expect(page.locator("#steps-0-wait_amount")).to_have_value("1")
    page.fill("#steps-0-wait_amount", "3")
    page.select_option("#steps-0-wait_unit", "days")
    with page.expect_navigation():
        page.click("#save-flow")
    shot(page, "flow-saved")
    # then it is saved as version 2 and shown as saved
    expect(page.locator(".Banner--success")).to_contain_text("saved (version 2)")
    expect(page.locator("#steps-0-wait_amount")).to_have_value("3")
    expect(page.locator("#steps-0-wait_unit")).to_have_value("days")
    saved = saved_flow(flow.id)
    assert saved["definition"]["steps"][0]["minutes"] == 3 * 24 * 60

    # the email editor opens with a real customer's data in the preview
    follow(page, page.locator("#edit-email-mail1"), "email-editor")
    chosen = page.locator("#customer_id option:checked").inner_text()
    first_name = chosen.split()[0]
    assert f"{first_name.lower()}." in chosen  # one of the seeded store's shoppers
    expect(page.locator("#preview-subject")).to_have_text(f"Welcome, {first_name}")
    expect(page.frame_locator("#email-preview").locator("body")).to_contain_text(
        f"Hello {first_name}, welcome to")

    # when they type into the subject, the preview follows without a reload
    page.fill("#subject", "")
    page.locator("#subject").press_sequentially("A gift for {{ customer.first_name }}!")
    expect(page.locator("#preview-subject")).to_have_text(f"A gift for {first_name}!")
    shot(page, "preview-follows-subject")

    # when the HTML reaches for Python internals, the refusal shows beside the field
    page.fill("#html", "<p>{{ ''.__class__.__mro__ }}</p>")
    refusal = page.locator("#live-error-html")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("__class__")
    # while the preview keeps the last version that rendered, and says so
    expect(page.locator("#preview-status")).to_contain_text("last version that rendered")
    expect(page.locator("#preview-subject")).to_have_text(f"A gift for {first_name}!")
    shot(page, "refusal-shown")
    # and saving it is refused too, beside the field, with nothing saved
    with page.expect_navigation():
        page.click("#save-email")
    expect(page.locator("#email-errors")).to_contain_text("The email was not saved")
    expect(page.locator("#html-error")).to_contain_text("__class__")
    assert saved_flow(flow.id)["version"] == 2


def test_the_preview_follows_edits_embedded_in_the_shopify_admin_and_go_live_posts(
        embedded_page, shop, seeded_store):
    page = embedded_page
    flow = a_flow(db.session, shop, name="Thank you")
    commit_test_writes()
    goto(page, embedded_path(shop, f"/admin/flows/{flow.id}/steps/mail1"), "email-embedded")
    page.fill("#subject", "Embedded {{ customer.first_name }}")
    expect(page.locator("#preview-subject")).to_contain_text("Embedded ")
    # the preview's post carried App Bridge's session token, not a cookie
    fetches = page.evaluate("window.__standin.fetches")
    assert any("/preview" in f["url"] and f["method"] == "POST" and f["status"] == 200
               and f["authorization"].startswith("Bearer ") for f in fetches), fetches

    goto(page, embedded_path(shop, f"/admin/flows/{flow.id}"), "flow-embedded")
    with page.expect_navigation():
        page.click("#status-go-live")
    expect(page.locator(".Banner--success")).to_contain_text("is live")
    assert "embedded=1" in page.url
    assert saved_flow(flow.id)["status"] == "live"
