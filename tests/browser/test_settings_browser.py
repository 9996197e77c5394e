"""The Settings page in a real browser: the history import's progress bar moving as the
import runs, and a failed webhook delivery retried from the page."""

from __future__ import annotations

from flask import current_app
from playwright.sync_api import expect
from sqlalchemy import select

from app.db import db, utcnow
from app.inbox.models import InboxEntry
from app.sync.models import RUNNING, BackfillRun
from tests.browser.support import commit_test_writes, goto, shot, sign_in_browser
from tests.test_settings_page import a_failed_delivery


def test_the_import_progress_moves_on_the_page_while_the_import_runs(page, shop):
    # given an import that has read a quarter of the store
    run = BackfillRun(shop_id=shop.id, platform="shopify", status=RUNNING, processed=1200,
                      total=4800, started_at=utcnow())
    db.session.add(run)
    sign_in_browser(page, shop)
    goto(page, "/admin/settings", "settings-import-running")
    expect(page.locator("#import-count")).to_contain_text("1,200 of 4,800")
    fill = page.locator("#import-progress .ProgressBar-fill")
    assert fill.evaluate("e => e.style.width") == "25%"

    # when the worker commits more pages, then finishes
    with db.new_session() as other, other.begin():
        other.get(BackfillRun, run.id).processed = 3600
    # then the bar follows without a reload
    expect(page.locator("#import-count")).to_contain_text("3,600 of 4,800", timeout=15_000)
    assert fill.evaluate("e => e.style.width") == "75%"
    with db.new_session() as other, other.begin():
        done = other.get(BackfillRun, run.id)
        done.processed, done.status, done.finished_at = 4800, "completed", utcnow()
    expect(page.locator("#import-count")).to_contain_text("4,800 of 4,800", timeout=15_000)
    expect(page.locator("#import-status")).to_contain_text("Completed", ignore_case=True)
    shot(page, "settings-import-completed")


def test_a_failed_delivery_is_shown_with_its_reason_and_retried_from_the_page(page, shop):
    # given a signed delivery whose body Sticky cannot read, failed by a real worker
    app = current_app._get_current_object()
    failed = a_failed_delivery(app, app.test_client())
    commit_test_writes()
    sign_in_browser(page, shop)

    # when the merchant opens Settings
    goto(page, "/admin/settings", "settings-failed-delivery")
    row = page.locator(f"#delivery-{failed.id}")
    # then the failure is listed with its reason
    expect(row).to_contain_text("orders/create")
    expect(row).to_contain_text("line_items must be a list of objects, got a string")
    expect(page.locator("#webhooks-failed [data-metric]")).to_have_text("1")

    # when they press its Retry button
    with page.expect_navigation():
        row.get_by_role("button", name=f"Retry delivery #{failed.id}").click()
    shot(page, "settings-after-retry")

    # then the page says so and the delivery is waiting for a worker again
    expect(page.locator(".Banner").first).to_contain_text("queued again")
    with db.new_session() as fresh:
        assert fresh.execute(select(InboxEntry.status).where(
            InboxEntry.id == failed.id)).scalar_one() == "pending"
