"""Importing customers in a real browser: upload another tool's export, read the dry-run
report, import, and watch the progress bar finish."""

from __future__ import annotations

from flask import current_app
from playwright.sync_api import expect

from tests.browser.support import commit_test_writes, goto, shot, sign_in_browser
from tests.conftest import run_worker

EXPORT = ("Email,First Name,Last Name,Email Marketing Consent,Profile Created On\n"
          "ada@example.com,Ada,Lovelace,SUBSCRIBED,2024-02-01\n"
          "grace@example.com,Grace,Hopper,,2024-03-01\n"
          "not-an-address,Bob,,,\n")


def test_upload_see_the_report_import_and_see_it_finish(page, shop, tmp_path):
    app = current_app._get_current_object()
    export = tmp_path / "klaviyo-profiles.csv"
    export.write_text(EXPORT, encoding="utf-8")
    sign_in_browser(page, shop)

    # the customer list has the Import button
    goto(page, "/admin/customers", "customers-with-import")
    with page.expect_navigation():
        page.click("#import-button")
    shot(page, "import-upload")

    # when the merchant uploads the export
    page.set_input_files("#file", str(export))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload and check").click()
    shot(page, "import-report")

    # then the report shows 2 new and 1 rejected, with its line and reason
    expect(page.locator('[data-metric="count-new"]')).to_have_text("2")
    expect(page.locator('[data-metric="count-rejected"]')).to_have_text("1")
    expect(page.locator("#rejections")).to_contain_text("not-an-address")
    expect(page.locator("#rejections tbody td").first).to_have_text("4")
    expect(page.locator("#col_0")).to_have_value("email")

    # when they import
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Import 2 customers").click()
    expect(page.locator("#import-progress")).to_be_visible()
    shot(page, "import-queued")

    # and a worker runs it: the page follows the progress and shows the result
    commit_test_writes()
    run_worker(app)
    expect(page.locator("#import-done")).to_contain_text("2 new, 0 merged, 0 unchanged",
                                                         timeout=15_000)
    shot(page, "import-done")

    # and the customers are in the list
    goto(page, "/admin/customers?q=ada%40example.com", "imported-customer")
    expect(page.locator("#customers-table")).to_contain_text("Ada Lovelace")
