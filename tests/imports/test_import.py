"""Importing customers: new profiles, merges into existing ones, consent, dry run, re-runs."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.db import db
from app.events.models import StoredEvent
from app.imports.models import ImportRun
from app.profiles.models import Customer, TimelineEvent
from benchmarks.payloads.shopify import customer_payload
from tests.conftest import post_webhook, run_worker
from tests.imports.support import customer, import_file, prepared, table_counts

CUSTOMERS = (
    "Email,First Name,Last Name,Phone,Accepts Email Marketing,Created At,Tags,"
    "Default Address Country Code,Shoe Size\n"
    "ada@example.com,Ada,Lovelace,+33 1 23 45 67 89,yes,2021-06-01,\"vip, early\",FR,38\n"
    "bob@example.com,Bob,,,no,,,,\n"
    "carl@example.com,Carl,,,,,,,\n"
    "broken-address,Dan,,,,,,,\n"
)


def _webhook_customer(app, client, **payload):
    response = post_webhook(client, "customers/create", customer_payload(**payload))
    assert response.status_code == 200
    run_worker(app)
    db.session.rollback()


def test_new_customers_are_created_with_the_files_fields(app, shop):
    run = import_file(shop, "customers", CUSTOMERS)
    assert (run.status, run.total, run.created, run.merged, run.unchanged) == (
        "completed", 3, 3, 0, 0)
    ada = customer(shop, "ada@example.com")
    assert (ada.first_name, ada.last_name, ada.phone, ada.tags, ada.country_code) == (
        "Ada", "Lovelace", "+33 1 23 45 67 89", "vip, early", "FR")
    assert ada.platform_customer_id is None  # claimed by the platform's customer later
    assert ada.platform_created_at == datetime(2021, 6, 1, tzinfo=UTC)  # shop zone: UTC
    assert ada.email_marketing == "subscribed"
    assert customer(shop, "bob@example.com").email_marketing == "not_subscribed"
    assert customer(shop, "carl@example.com").email_marketing == "not_subscribed"
    # each shows on its timeline as imported, with the file and line
    facts = db.session.execute(select(TimelineEvent.data).where(
        TimelineEvent.customer_id == ada.id, TimelineEvent.kind == "customer_imported")
    ).scalars().all()
    assert facts == [{"file": "export.csv", "line": 2, "kind": "customers"}]
    # and none of it is news
    assert db.session.execute(select(StoredEvent)).first() is None


def test_the_report_lists_rejections_and_ignored_columns(shop):
    report = prepared(shop, "customers", CUSTOMERS).report
    assert report["counts"] == {"new": 3, "merged": 0, "unchanged": 0, "rejected": 1,
                                "duplicates": 0}
    assert report["rejections"][0]["line"] == 5
    assert "'broken-address' is not a valid address" in report["rejections"][0]["reason"]
    assert report["ignored_columns"] == ["Shoe Size"]


def test_dry_run_writes_nothing(shop):
    before = table_counts(shop)
    plan = prepared(shop, "customers", CUSTOMERS)
    assert plan.report["counts"]["new"] == 3
    assert table_counts(shop) == before
    assert db.session.execute(select(ImportRun)).first() is None


def test_existing_profiles_are_filled_never_overwritten(app, client, shop):
    # given a customer Shopify sent by webhook: named, with a city, never subscribed
    _webhook_customer(app, client, email="Ada@Example.com", first_name="Augusta",
                      last_name="King")
    stored = customer(shop, "ada@example.com")
    assert (stored.phone, stored.country_code, stored.tags) == ("555-555-5555", "CA", None)
    # when the old tool's export names her differently and has her phone
    run = import_file(shop, "customers", CUSTOMERS)
    # then she is merged, not duplicated: names kept, empty fields filled
    assert (run.created, run.merged) == (2, 1)
    db.session.expire_all()
    ada = customer(shop, "ada@example.com")
    assert ada.id == stored.id
    assert (ada.first_name, ada.last_name) == ("Augusta", "King")
    assert (ada.phone, ada.country_code) == ("555-555-5555", "CA")
    assert ada.tags == "vip, early"
    assert ada.platform_created_at == stored.platform_created_at  # Shopify's date kept
    # consent: Sticky knew nothing dated and she had never subscribed; the file says yes
    assert ada.email_marketing == "subscribed"


def test_consent_is_kept_only_when_stated_and_never_over_a_newer_choice(shop):
    from tests.customer_helpers import customer_row

    customer_row(db.session, shop, email="old@example.com", email_marketing="unsubscribed",
                 email_marketing_updated_at=datetime(2025, 1, 1, tzinfo=UTC))
    customer_row(db.session, shop, email="blank@example.com", email_marketing="subscribed",
                 email_marketing_updated_at=datetime(2025, 1, 1, tzinfo=UTC))
    customer_row(db.session, shop, email="later@example.com", email_marketing="unsubscribed",
                 email_marketing_updated_at=datetime(2024, 1, 1, tzinfo=UTC))
    db.session.commit()
    run = import_file(shop, "customers", (
        "Email,Email Marketing Consent,Email Marketing Consent Timestamp\n"
        "old@example.com,SUBSCRIBED,2024-06-01\n"      # older than the unsubscribe: ignored
        "blank@example.com,,\n"                        # says nothing: unchanged
        "later@example.com,SUBSCRIBED,2025-03-01\n"    # newer than Sticky's: applied
        "new@example.com,,\n"))                        # new, no statement: not subscribed
    assert (run.created, run.merged, run.unchanged) == (1, 1, 2)
    db.session.expire_all()
    assert customer(shop, "old@example.com").email_marketing == "unsubscribed"
    assert customer(shop, "blank@example.com").email_marketing == "subscribed"
    later = customer(shop, "later@example.com")
    assert later.email_marketing == "subscribed"
    assert later.email_marketing_updated_at == datetime(2025, 3, 1, tzinfo=UTC)
    assert customer(shop, "new@example.com").email_marketing == "not_subscribed"


def test_reimporting_the_same_file_changes_nothing(shop):
    import_file(shop, "customers", CUSTOMERS)
    after_first = table_counts(shop)
    again = import_file(shop, "customers", CUSTOMERS)
    assert (again.created, again.merged, again.unchanged) == (0, 0, 3)
    assert table_counts(shop) == after_first


def test_a_later_duplicate_line_wins(shop):
    run = import_file(shop, "customers", "Email,First Name\nada@example.com,Old\n"
                                         "ADA@example.com,New\n")
    assert (run.total, run.created) == (1, 1)
    assert customer(shop, "ada@example.com").first_name == "New"
    assert run.report["duplicates"][0]["line"] == 2


def test_a_deleted_customer_is_not_recreated(shop):
    from tests.customer_helpers import customer_row

    customer_row(db.session, shop, email="gone@example.com",
                 deleted_at=datetime(2025, 1, 1, tzinfo=UTC))
    db.session.commit()
    report = prepared(shop, "customers", "Email\ngone@example.com\n").report
    assert report["rejections"] == [
        {"line": 2, "reason": "the store deleted this customer: not re-created"}]


def test_the_stores_own_customer_later_claims_the_imported_profile(app, client, shop):
    run = import_file(shop, "customers", "Email,First Name,Tags\nada@example.com,Ada,vip\n")
    imported = customer(shop, "ada@example.com")
    assert run.created == 1 and imported.platform_customer_id is None
    db.session.commit()
    # when Shopify sends the same shopper as a customer
    _webhook_customer(app, client, customer_id=555, email="ada@example.com",
                      first_name="Ada", last_name="Lovelace")
    # then it is the same profile, now the platform's, with the imported tags kept
    rows = db.session.execute(select(Customer).where(Customer.shop_id == shop.id)).scalars()
    (ada,) = list(rows)
    assert (ada.id, ada.platform_customer_id, ada.last_name) == (imported.id, "555",
                                                                 "Lovelace")
    assert ada.tags == "vip"
