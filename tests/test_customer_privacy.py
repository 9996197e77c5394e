"""The merchant's notes and tags are personal data: a data request exports them, a
customers/redact erases them (and their timeline rows), and a guest who registers keeps them."""

from __future__ import annotations

from sqlalchemy import func, select

from app.customers.models import CustomerNote, CustomerTag
from app.db import db
from app.profiles.models import Customer
from app.shops.service import create_api_key
from tests.conftest import post_webhook, run_worker
from tests.factories import customer_payload, order_payload, ts
from tests.test_compliance import (
    GRACE,
    _mirror_grace_and_a_bystander,
    _places_mentioning,
    _request,
)

NOTE = "Grace asked for invoices by post to 12 Kestrel Lane"


def _note_and_tag(client, headers, customer_id: int) -> None:
    assert client.post(f"/api/customers/{customer_id}/notes", json={"body": NOTE},
                       headers=headers).status_code == 201
    assert client.post(f"/api/customers/{customer_id}/tags", json={"tag": "Kestrel VIP"},
                       headers=headers).status_code == 201


def _grace_id() -> int:
    db.session.rollback()
    return db.session.execute(select(Customer.id).where(
        Customer.email_normalized == GRACE)).scalar_one()


def _api(shop) -> dict[str, str]:
    _, key = create_api_key(db.session, shop)
    db.session.commit()
    return {"Authorization": f"Bearer {key}"}


def test_a_data_request_exports_the_merchants_notes_and_tags(app, client, shop):
    # given Grace, with a note and a tag from the merchant
    mirrored = _mirror_grace_and_a_bystander(app, client)
    headers = _api(shop)
    _note_and_tag(client, headers, _grace_id())
    # when Shopify forwards her data request
    post_webhook(client, "customers/data_request",
                 _request("customers/data_request", mirrored["grace"]))
    run_worker(app)
    # then the export holds them, counted
    listing = client.get("/api/compliance/exports", headers=headers).get_json()["exports"]
    export = client.get(listing[0]["download"], headers=headers).get_json()
    assert [n["body"] for n in export["notes"]] == [NOTE]
    assert export["notes"][0]["author"] == "API"
    assert [t["tag"] for t in export["merchant_tags"]] == ["Kestrel VIP"]
    assert listing[0]["counts"]["notes"] == 1 and listing[0]["counts"]["merchant_tags"] == 1


def test_a_redaction_erases_the_merchants_notes_and_tags(app, client, shop):
    # given Grace, with a note and a tag from the merchant
    mirrored = _mirror_grace_and_a_bystander(app, client)
    _note_and_tag(client, _api(shop), _grace_id())
    assert _places_mentioning("Kestrel") != []  # the test can see them before
    # when Shopify asks for her redaction
    post_webhook(client, "customers/redact",
                 _request("customers/redact", mirrored["grace"], mirrored["orders"]))
    run_worker(app)
    # then no row anywhere holds the note's or the tag's words, and the audit counts them
    assert _places_mentioning("Kestrel") == []
    with db.new_session() as fresh:
        assert fresh.execute(select(func.count()).select_from(CustomerNote)).scalar_one() == 0
        assert fresh.execute(select(func.count()).select_from(CustomerTag)).scalar_one() == 0
        from app.compliance.models import ComplianceAudit
        audit = fresh.execute(select(ComplianceAudit).where(
            ComplianceAudit.topic == "customers/redact")).scalar_one()
        assert audit.counts["notes_deleted"] == 1 and audit.counts["tags_deleted"] == 1


def test_a_guest_merged_into_an_account_keeps_the_merchants_notes_and_tags(app, client, shop):
    # given a registered customer already tagged "Kestrel VIP", and a guest (an order
    # without an account) noted and tagged by the merchant
    registered = customer_payload(email="old@example.com", updated=0)
    for topic, payload in (("customers/create", registered),
                           ("orders/create", order_payload(email="guest@example.com"))):
        assert post_webhook(client, topic, payload).status_code == 200
    run_worker(app)
    db.session.rollback()
    ids = dict(db.session.execute(select(Customer.email_normalized, Customer.id)).all())
    headers = _api(shop)
    _note_and_tag(client, headers, ids["guest@example.com"])
    assert client.post(f"/api/customers/{ids['old@example.com']}/tags",
                       json={"tag": "kestrel vip"}, headers=headers).status_code == 201
    client.post(f"/api/customers/{ids['guest@example.com']}/tags", json={"tag": "From guest"},
                headers=headers)
    # when the customer changes their email to the guest's (the guest is merged into them)
    moved = dict(registered, email="guest@example.com", updated_at=ts(90))
    assert post_webhook(client, "customers/update", moved).status_code == 200
    run_worker(app)
    # then the note and the tags are on the registered profile, each tag once
    db.session.rollback()
    (customer_id,) = db.session.execute(select(Customer.id)).scalars().all()
    assert customer_id == ids["old@example.com"]
    profile = client.get(f"/api/customers/{customer_id}", headers=headers).get_json()
    assert [n["body"] for n in profile["notes"]] == [NOTE]
    assert profile["merchant_tags"] == ["From guest", "kestrel vip"]
    kinds = [e["kind"] for e in profile["timeline"]]
    assert kinds.count("note_added") == 1 and kinds.count("tag_added") == 3
    assert "order_placed" in kinds
