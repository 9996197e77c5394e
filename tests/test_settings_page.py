"""`/admin/settings`: the form (saved, refused next to the field, CSRF), and the cards that
say how the store's connection is doing, each drawn from real rows: the credential, the
history import, reconciliation, webhook health with a failed delivery and its Retry, and
privacy requests with their download."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.accounts.service import create_account, link_account_to_shop
from app.db import db, utcnow
from app.inbox.models import InboxEntry
from app.queue import get_queue
from app.settings.service import read_settings
from app.shops.models import Shop
from app.sync.models import BackfillRun
from tests.conftest import post_webhook, run_worker
from tests.factories import order_payload
from tests.test_accounts import csrf_from, log_in
from tests.test_compliance import _request
from tests.test_malformed_privacy import redact_request

EMAIL, PASSWORD = "owner@example.com", "correct horse battery"
FORM = {"sender_name": "", "sender_email": "", "reply_to": "", "timezone": "",
        "smart_sending_hours": "16", "quiet_hours_start": "22:00", "quiet_hours_end": "08:00",
        "attribution_click_days": "5", "attribution_open_days": "1"}
BAD_LINES = "line_items must be a list of objects, got a string"


@pytest.fixture
def panel(client, session, shop):
    """A browser signed in to the standalone panel with `shop` selected."""
    account = create_account(session, EMAIL, PASSWORD)
    link_account_to_shop(session, account.id, shop.id)
    session.commit()
    log_in(client, EMAIL, PASSWORD)
    client.post("/admin/stores/select", data={"shop_id": shop.id,
                                              "csrf_token": csrf_from(client, "/admin/stores")})
    return client


def page(client) -> str:
    response = client.get("/admin/settings")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(text: str, anchor: str) -> str:
    """The HTML of one annotated section, as plain text (tags dropped, entities decoded)."""
    match = re.search(rf'<section class="AnnotatedSection" id="{anchor}".*?(?=<section '
                      r'class="AnnotatedSection"|<div class="SaveBar"|<script)', text, re.S)
    assert match, f"no section {anchor}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


def post(client, path: str, data: dict | None = None):
    token = csrf_from(client, "/admin/settings")
    return client.post(path, data={**(data or {}), "csrf_token": token})


def delivery(entry_id: int) -> tuple[str, str | None, int]:
    """A delivery's status, reason and attempts as the database has them now."""
    db.session.rollback()
    return tuple(db.session.execute(
        select(InboxEntry.status, InboxEntry.error, InboxEntry.attempts)
        .where(InboxEntry.id == entry_id)).one())


# -- the form ------------------------------------------------------------------------------

def test_the_form_shows_the_defaults_and_says_flows_cannot_send_yet(panel):
    text = page(panel)
    assert "Flows cannot send yet" in text
    assert 'placeholder="sticky-test"' in text  # the sender name follows the store's name
    assert re.search(r'<option selected value="">UTC \(Shopify has not told', text)
    assert 'value="16"' in text and 'value="5"' in text


def test_saving_the_form_stores_the_settings_and_redirects_with_a_flash(panel, shop):
    response = post(panel, "/admin/settings", {
        **FORM, "sender_name": "Hopperton Hats", "sender_email": "hello@hopperton.example",
        "timezone": "Europe/Paris", "smart_sending_hours": "24", "quiet_hours_enabled": "y",
        "quiet_hours_start": "21:30", "quiet_hours_end": "07:00",
        "attribution_click_days": "7", "attribution_open_days": "0"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/settings")
    saved = read_settings(db.session, shop)
    assert (saved.sender_name, saved.sender_email, saved.reply_to, saved.timezone,
            saved.smart_sending_hours, saved.quiet_hours, saved.attribution_click_days,
            saved.attribution_open_days) == (
        "Hopperton Hats", "hello@hopperton.example", None, "Europe/Paris", 24,
        {"start": "21:30", "end": "07:00"}, 7, 0)
    text = page(panel)
    assert "Settings saved." in text
    assert "Flows cannot send yet" not in text
    assert '<option selected value="Europe/Paris">' in text
    # and the API reads what the form wrote
    assert panel.get("/api/settings").get_json()["quiet_hours"] == {"start": "21:30",
                                                                     "end": "07:00"}


def test_errors_show_next_to_their_fields_and_nothing_is_saved(panel, shop):
    response = post(panel, "/admin/settings", {
        **FORM, "sender_name": "Hats\tand more", "sender_email": "hello@", "reply_to": "x",
        "timezone": "Nowhere/Atlantis", "smart_sending_hours": "a day",
        "quiet_hours_enabled": "y", "quiet_hours_start": "25:00", "quiet_hours_end": "08:00",
        "attribution_click_days": "91", "attribution_open_days": "-1"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    expected = {
        "sender_name": "Must be one line of printable characters (no line breaks or tabs).",
        "sender_email": "Must be a valid email address: there must be something after the "
                        "@-sign.",
        "reply_to": "Must be a valid email address: an email address must have an @-sign.",
        "timezone": "Must be an IANA time zone name such as Europe/Paris, or null to follow "
                    "the store's platform.",
        "smart_sending_hours": "Must be a whole number of hours from 0 to 168.",
        "quiet_hours_start": "Must be a time of day as HH:MM, from 00:00 to 23:59.",
        "attribution_click_days": "Must be a whole number of days from 0 to 90.",
        "attribution_open_days": "Must be a whole number of days from 0 to 90.",
    }
    for field, message in expected.items():
        shown = re.search(rf'<div class="Field-error" id="{field}-error">.*?<span>(.*?)</span>',
                          text, re.S)
        assert shown, f"no error next to {field}"
        assert html.unescape(shown.group(1)) == message
        assert f'aria-describedby="{field}-help {field}-error"' in text or \
            f'aria-describedby="{field}-error"' in text
    assert 'value="Hats\tand more"' in text  # what was typed stays, to be corrected
    assert read_settings(db.session, shop).updated_at is None


def test_a_form_post_without_the_csrf_token_is_refused(panel, shop):
    response = panel.post("/admin/settings", data={**FORM, "smart_sending_hours": "1"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
    assert read_settings(db.session, shop).smart_sending_hours == 16


def test_the_embedded_door_saves_with_a_session_token_and_no_csrf_token(client, shop):
    from tests.test_api import session_token

    response = client.post(f"/admin/settings?shop={shop.domain}&embedded=1&host=abc",
                           data={**FORM, "smart_sending_hours": "2",
                                 "id_token": session_token(shop.domain)})
    assert response.status_code == 302
    assert "shop=sticky-test.myshopify.com" in response.headers["Location"]
    assert read_settings(db.session, shop).smart_sending_hours == 2
    forged = client.post(f"/admin/settings?shop={shop.domain}&embedded=1",
                         data={**FORM, "id_token": "not-a-token"})
    assert forged.status_code == 401


# -- store connection, history import, reconciliation --------------------------------------

def test_connection_card_states_the_credential_without_showing_it(panel, shop, session):
    text = section(page(panel), "connection")
    assert "Shopify" in text and "sticky-test.myshopify.com" in text and "Active" in text
    assert "Non-expiring token" in text
    assert "shpat_test_token" not in page(panel)
    # an expiring token shows when it and its refresh token lapse
    shop.access_token_expires_at = utcnow() + timedelta(minutes=40)
    shop.refresh_token_encrypted = shop.access_token_encrypted
    shop.refresh_token_expires_at = utcnow() + timedelta(days=80)
    shop.scopes = "read_orders,read_customers"
    session.commit()
    text = section(page(panel), "connection")
    assert "Expiring token" in text and "Refresh token valid until" in text
    assert "read_customers read_orders" in text
    shop.refresh_token_expires_at = utcnow() - timedelta(days=1)
    session.commit()
    assert "Needs reconnecting" in section(page(panel), "connection")


def test_history_card_shows_the_newest_run_and_queues_an_import(panel, shop, session):
    assert "No import has run for this store." in section(page(panel), "history")
    response = post(panel, "/admin/settings/backfill")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("#history")
    run = session.execute(select(BackfillRun)).scalar_one()
    assert run.status == "queued"
    assert [job.func_name for job in get_queue("default").get_jobs()] == [
        "jobs.sync.run_backfill"]
    text = page(panel)
    assert 'id="import-progress"' in text and "Sticky.poll" in text
    assert "An import is already queued." in section(text, "history")
    # a second press queues nothing more
    post(panel, "/admin/settings/backfill")
    assert len(get_queue("default").get_jobs()) == 1
    # a running import shows its progress
    run.status, run.processed, run.total, run.started_at = "running", 1200, 4800, utcnow()
    session.commit()
    text = section(page(panel), "history")
    assert "Importing" in text and "1,200 of 4,800 orders and customers imported." in text


def test_the_demo_store_explains_why_there_is_no_import_or_reconciliation(panel, shop,
                                                                         session):
    shop.demo = True
    session.commit()
    text = page(panel)
    assert "This is the local demo store" in section(text, "history")
    assert 'action="/admin/settings/backfill"' not in text
    assert "Never" in section(text, "reconciliation")
    assert "Local demo" in section(text, "connection")
    assert post(panel, "/admin/settings/backfill").status_code == 302
    assert session.execute(select(BackfillRun)).first() is None


def test_reconciliation_card_shows_the_last_pass_and_when_the_next_is_due(panel, shop,
                                                                         session):
    assert "None yet" in section(page(panel), "reconciliation")
    shop.last_synced_at = utcnow() - timedelta(minutes=5)
    shop.timezone = "UTC"
    session.commit()
    text = section(page(panel), "reconciliation")
    due = shop.last_synced_at + timedelta(minutes=15)
    assert f"{due:%b} {due.day}, {due.year}, {due:%H:%M} UTC" in text
    shop.last_synced_at = utcnow() - timedelta(hours=2)
    session.commit()
    assert "Overdue" in section(page(panel), "reconciliation")


# -- webhook health ------------------------------------------------------------------------

def a_failed_delivery(app, client) -> InboxEntry:
    order = order_payload(email="ada@example.com")
    order["line_items"] = "two hats"
    assert post_webhook(client, "orders/create", order).status_code == 200
    assert post_webhook(client, "orders/create", order_payload()).status_code == 200
    run_worker(app)
    return db.session.execute(select(InboxEntry).where(InboxEntry.status == "failed")
                              .order_by(InboxEntry.id.desc()).limit(1)).scalar_one()


def test_webhook_health_counts_the_last_day_and_lists_a_failure_with_its_reason(
        app, panel, shop):
    failed = a_failed_delivery(app, panel)
    text = section(page(panel), "webhooks")
    assert re.search(r"Received 2 Webhook deliveries", text)
    assert re.search(r"Processed 1 Of those, applied", text)
    assert re.search(r"Failed 1 Of those, not applied", text)
    assert f"orders/create #{failed.id}" in text
    assert f"cannot read orders/create payload: {BAD_LINES}" in text


def test_retry_requeues_the_delivery_and_a_second_failure_shows_again(app, panel, shop):
    failed = a_failed_delivery(app, panel)
    response = post(panel, f"/admin/settings/inbox/{failed.id}/retry")
    assert response.status_code == 302 and response.headers["Location"].endswith("#webhooks")
    assert delivery(failed.id)[:2] == ("pending", None)
    assert [job.func_name for job in get_queue("ingest").get_jobs()] == [
        "jobs.ingest.drain_shop"]
    assert "is queued again" in page(panel)
    run_worker(app)
    assert delivery(failed.id) == ("failed", f"cannot read orders/create payload: {BAD_LINES}", 2)
    text = section(page(panel), "webhooks")
    assert f"cannot read orders/create payload: {BAD_LINES}" in text


def test_retry_all_sends_a_privacy_request_back_to_its_own_job(app, panel, shop):
    assert post_webhook(panel, "customers/redact", redact_request(email=42)).status_code == 200
    run_worker(app)
    text = page(panel)
    assert "customer.email must be a string, got a whole number" in section(text, "webhooks")
    assert "Customer redaction" in section(text, "privacy")  # audited as failed
    response = post(panel, "/admin/settings/inbox/retry")
    assert response.status_code == 302
    entry = db.session.execute(select(InboxEntry)).scalar_one()
    assert entry.status == "dispatched"
    assert [job.func_name for job in get_queue("default").get_jobs()] == [
        "jobs.compliance.handle_lifecycle_delivery"]
    assert get_queue("ingest").get_jobs() == []


def test_another_stores_delivery_is_a_404_page(app, panel, other_shop):
    order = order_payload()
    order["line_items"] = "two hats"
    post_webhook(panel, "orders/create", order, shop_domain=other_shop.domain)
    run_worker(app)
    theirs = db.session.execute(select(InboxEntry)).scalar_one()
    response = post(panel, f"/admin/settings/inbox/{theirs.id}/retry")
    assert response.status_code == 404
    assert "this store has no webhook delivery" in response.get_data(as_text=True).lower()
    assert delivery(theirs.id)[0] == "failed"
    assert post(panel, f"/admin/settings/inbox/{2**63}/retry").status_code == 404


# -- privacy requests ----------------------------------------------------------------------

def test_privacy_cards_explain_themselves_when_empty(panel):
    text = section(page(panel), "privacy")
    assert "No privacy requests yet" in text and "No requests handled yet" in text


def test_a_data_request_is_listed_and_downloads_from_the_panel(app, panel, shop, other_shop):
    customer = {"id": 191167, "email": "grace@example.com"}
    post_webhook(panel, "customers/data_request", _request("customers/data_request", customer))
    run_worker(app)
    text = page(panel)
    privacy = section(text, "privacy")
    assert "grace@example.com" in privacy and "Data request" in privacy and "Done" in privacy
    link = re.search(r'href="(/admin/settings/privacy/exports/(\d+))"', text)
    assert link
    download = panel.get(link.group(1))
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == (
        f'attachment; filename="customer-data-request-{link.group(2)}.json"')
    assert json.loads(download.data)["requested_customer"]["email"] == "grace@example.com"
    # and an id of no export of this store is a 404 page
    missing = panel.get(f"/admin/settings/privacy/exports/{int(link.group(2)) + 1}")
    assert missing.status_code == 404


def test_the_page_needs_a_signed_in_account(client, shop):
    response = client.get("/admin/settings")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.post("/admin/settings/inbox/retry").status_code == 302



# -- the embedded door and WooCommerce -----------------------------------------------------

def test_the_embedded_page_renders_and_its_retry_posts_with_the_session_token(app, client,
                                                                             shop, session):
    from tests.test_api import session_token

    # given a store with a current expiring token (so opening the app exchanges nothing)
    shop.access_token_expires_at = utcnow() + timedelta(hours=1)
    shop.refresh_token_encrypted = shop.access_token_encrypted
    shop.refresh_token_expires_at = utcnow() + timedelta(days=90)
    session.commit()
    failed = a_failed_delivery(app, client)
    query = f"shop={shop.domain}&embedded=1&host=YWRtaW4"
    response = client.get(f"/admin/settings?{query}&id_token={session_token(shop.domain)}")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'name="csrf_token"' not in text  # embedded posts carry a session token instead
    action = f"/admin/settings/inbox/{failed.id}/retry?shop={shop.domain}"
    assert html.escape(action) in text and "embedded=1" in text
    # when the Retry form is posted as panel.js sends it
    retried = client.post(f"/admin/settings/inbox/{failed.id}/retry?{query}",
                          data={"id_token": session_token(shop.domain)})
    assert retried.status_code == 302
    assert delivery(failed.id)[0] == "pending"
    # and without the session token it is refused, changing nothing
    other = a_failed_delivery(app, client)
    refused = client.post(f"/admin/settings/inbox/{other.id}/retry?{query}")
    assert refused.status_code == 401
    assert delivery(other.id)[0] == "failed"


def test_a_woocommerce_store_shows_its_rest_keys_and_offers_an_import(client, session):
    from app.crypto import encrypt

    store = Shop(platform="woocommerce", domain="hats.example", currency="EUR",
                 api_base_url="https://hats.example",
                 consumer_key_encrypted=encrypt("ck_secret_key"),
                 consumer_secret_encrypted=encrypt("cs_secret_value"))
    session.add(store)
    session.flush()
    account = create_account(session, EMAIL, PASSWORD)
    link_account_to_shop(session, account.id, store.id)
    session.commit()
    log_in(client, EMAIL, PASSWORD)
    client.post("/admin/stores/select", data={"shop_id": store.id,
                                              "csrf_token": csrf_from(client, "/admin/stores")})
    text = page(client)
    connection = section(text, "connection")
    assert "WooCommerce" in connection and "hats.example" in connection
    assert "REST API keys stored" in connection
    assert "ck_secret_key" not in text and "cs_secret_value" not in text
    assert 'action="/admin/settings/backfill"' in text
    assert "read once from WooCommerce" in section(text, "history")
