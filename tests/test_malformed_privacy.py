"""A malformed Shopify privacy request ends failed with its reason instead of retrying
forever, and a malformed store delivery never holds a privacy request up.

Deliveries go through the real receiver, inbox and a real RQ worker; payloads are the
published `customers/redact` sample (tests/fixtures) with one field changed.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from app.compliance.models import ComplianceAudit
from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Customer
from tests.conftest import post_webhook, run_worker, shopify_fixture
from tests.factories import customer_payload, order_payload

SHOP = "sticky-test.myshopify.com"


def redact_request(**customer) -> dict:
    payload = shopify_fixture("customers/redact")
    payload["shop_domain"] = SHOP
    payload["customer"].update(customer)
    return payload


def lifecycle_row():
    db.session.rollback()
    return db.session.execute(select(InboxEntry).where(
        InboxEntry.topic == "customers/redact")).scalar_one()


@pytest.mark.parametrize(("customer", "reason"), [
    pytest.param({"email": 42}, "customer.email must be a string, got a whole number", id="email"),
    pytest.param({"id": {"id": 191167}}, "customer.id must be a whole number or a string, "
                 "got an object", id="id-object"),
    pytest.param({"phone": ["555"]}, "customer.phone must be a string, got a list", id="phone"),
])
def test_a_malformed_customers_redact_fails_with_its_reason_and_is_not_retried(
        app, client, shop, customer, reason):
    post_webhook(client, "customers/redact", redact_request(**customer))
    run_worker(app)
    entry = lifecycle_row()
    assert (entry.status, entry.error, entry.attempts) == ("failed", reason, 1)
    audit = db.session.execute(select(ComplianceAudit)).scalar_one()
    assert (audit.status, audit.note) == ("failed", reason)

    from jobs.compliance import sweep_lifecycle_deliveries

    db.session.execute(text("UPDATE inbox SET received_at = :old"),
                       {"old": "2020-01-01 00:00:00+00:00"})
    db.session.commit()
    assert sweep_lifecycle_deliveries()["requeued"] == []  # failed is final: not swept again


def test_customers_redact_is_not_held_up_by_a_malformed_delivery(app, client, shop):
    grace = customer_payload(email="grace@example.com", first_name="Grace")
    poison = order_payload(customer=grace, email="grace@example.com")
    poison["line_items"] = "two hats"
    post_webhook(client, "customers/create", grace)
    post_webhook(client, "orders/create", poison)
    post_webhook(client, "customers/redact",
                 redact_request(id=grace["id"], email="grace@example.com", phone=None))
    run_worker(app)

    assert lifecycle_row().status == "processed"
    assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


def test_customers_redact_naming_an_email_with_a_nul_finds_the_customer(app, client, shop):
    grace = customer_payload(email="grace@example.com", first_name="Grace")
    post_webhook(client, "customers/create", grace)
    run_worker(app)
    post_webhook(client, "customers/redact",
                 redact_request(id=None, email="grace\u0000@example.com", phone=None))
    run_worker(app)
    assert lifecycle_row().status == "processed"
    assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


def test_a_privacy_request_that_failed_goes_back_to_its_own_job_on_retry(app, client, shop,
                                                                        monkeypatch):
    """`inbox retry` must not hand a privacy request to the store drain, which would mark it
    processed without acting on it."""
    import app.compliance.service as compliance

    grace = customer_payload(email="grace@example.com")
    post_webhook(client, "customers/create", grace)
    run_worker(app)

    def broken(*args, **kwargs):
        raise ValueError("simulated bug")

    monkeypatch.setattr(compliance, "redact_customer", broken)
    post_webhook(client, "customers/redact",
                 redact_request(id=grace["id"], email="grace@example.com", phone=None))
    run_worker(app)
    assert lifecycle_row().status == "failed"

    monkeypatch.undo()
    db.session.rollback()
    result = app.test_cli_runner().invoke(args=["inbox", "retry"])
    assert result.exit_code == 0, result.output
    run_worker(app)
    assert lifecycle_row().status == "processed"
    assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 0
