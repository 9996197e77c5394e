"""Shopify's mandatory privacy webhooks: data request export, customer redaction, shop redaction.

Payloads are Shopify's published samples (tests/fixtures/shopify) with this test's customer and
store filled in. Deliveries go through the real receiver, inbox and a real RQ worker.
"""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, func, select, text

from app.compliance.models import ComplianceAudit, ComplianceExport
from app.db import Base, db
from app.events.models import StoredEvent
from app.inbox.models import InboxEntry
from app.profiles.models import Customer, Order, Refund, TimelineEvent
from app.shops.models import Shop
from app.shops.service import create_api_key
from tests.conftest import post_webhook, run_worker, shopify_fixture
from tests.factories import checkout_payload, customer_payload, order_payload, refund_payload

SHOP = "sticky-test.myshopify.com"
GRACE = "grace.hopperton@example.com"
BYSTANDER = "ada@example.com"
COMPLIANCE_TOPICS = ["customers/data_request", "customers/redact", "shop/redact"]


def _mirror_grace_and_a_bystander(app, client) -> dict:
    """Grace: profile, two orders (one refunded), an abandoned checkout, a consent change.
    Ada: one order, untouched by Grace's requests."""
    grace = customer_payload(email=GRACE, first_name="Grace", last_name="Hopperton")
    ada = customer_payload(email=BYSTANDER)
    first = order_payload(customer=grace, email=GRACE, total="80.00", placed=10, updated=10)
    second = order_payload(customer=grace, email=GRACE, total="20.00", placed=20, updated=20)
    for topic, payload in [
        ("customers/create", grace), ("customers/create", ada),
        ("orders/create", first), ("orders/create", second),
        ("orders/create", order_payload(customer=ada, email=BYSTANDER, total="55.00")),
        ("refunds/create", refund_payload(order_id=first["id"], amount="30.00")),
        ("checkouts/create", checkout_payload(token="chk-grace", email=GRACE, customer=grace)),
        ("customers_email_marketing_consent/update", {
            "customer_id": grace["id"], "email_address": GRACE,
            "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                        "consent_updated_at": "2026-03-01T12:30:00+00:00"}}),
    ]:
        assert post_webhook(client, topic, payload).status_code == 200
    run_worker(app)
    return {"grace": grace, "orders": [first, second]}


def _request(topic: str, customer: dict | None = None, orders: list[dict] | None = None) -> dict:
    payload = shopify_fixture(topic)
    payload["shop_domain"] = SHOP
    if customer is not None:
        payload["customer"] = {"id": customer["id"], "email": customer["email"],
                               "phone": customer.get("phone")}
    key = "orders_requested" if topic == "customers/data_request" else "orders_to_redact"
    if key in payload:
        payload[key] = [o["id"] for o in orders or []]
    return payload


def _text_columns():
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns
                   if isinstance(c.type, String | Text | JSON | LargeBinary)
                   or isinstance(getattr(c.type, "impl", None), String | Text | JSON)]
        if columns:
            yield table, columns


def _places_mentioning(needle: str) -> list[str]:
    """Every table.column in the whole database whose value contains `needle`
    (case-insensitive): text, JSON and bytes columns of every table."""
    db.session.rollback()
    found = []
    needle_l = needle.lower()
    with db.new_session() as fresh:
        for table, columns in _text_columns():
            for row in fresh.execute(select(*columns)).all():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    elif not isinstance(value, str):
                        value = json.dumps(value)
                    if needle_l in value.lower():
                        found.append(f"{table.name}.{column.name}")
    return sorted(set(found))


def _count(model, *where) -> int:
    db.session.rollback()  # requests share the test's session; end its (locking) transaction
    with db.new_session() as fresh:
        return fresh.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.parametrize("topic", COMPLIANCE_TOPICS)
def test_compliance_webhook_with_a_bad_signature_is_401(client, shop, topic):
    response = post_webhook(client, topic, _request(topic, {"id": 1, "email": GRACE}),
                            secret="not-the-app-secret")
    assert response.status_code == 401
    assert _count(InboxEntry) == 0


@pytest.mark.parametrize("topic", COMPLIANCE_TOPICS)
def test_compliance_webhook_is_stored_and_dispatched_not_drained(client, shop, topic):
    response = post_webhook(client, topic, _request(topic, {"id": 1, "email": GRACE}))
    assert response.status_code == 200
    assert db.session.execute(select(InboxEntry.status)).scalar_one() == "dispatched"


def test_data_request_exports_everything_held_on_the_customer(app, client, shop):
    # given
    mirrored = _mirror_grace_and_a_bystander(app, client)
    grace = mirrored["grace"]
    # when Shopify forwards Grace's data request
    post_webhook(client, "customers/data_request",
                 _request("customers/data_request", grace, mirrored["orders"]))
    run_worker(app)
    # then the merchant can list and download it
    _, key = create_api_key(db.session, shop)
    db.session.commit()
    auth = {"Authorization": f"Bearer {key}"}
    listing = client.get("/api/compliance/exports", headers=auth).get_json()["exports"]
    assert len(listing) == 1
    assert listing[0]["data_request_id"] == "9999"
    assert listing[0]["customer"] == {"id": str(grace["id"]), "email": GRACE}
    download = client.get(listing[0]["download"], headers=auth)
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    export = download.get_json()

    # and it holds every row Sticky has on Grace, and nothing of Ada's
    db.session.rollback()
    with db.new_session() as fresh:
        profile = fresh.execute(select(Customer).where(
            Customer.email_normalized == GRACE)).scalar_one()
        order_ids = set(fresh.execute(select(Order.platform_order_id).where(
            Order.customer_id == profile.id)).scalars())
        timeline_count = fresh.execute(select(func.count()).select_from(TimelineEvent).where(
            TimelineEvent.customer_id == profile.id)).scalar_one()
        event_kinds = sorted(fresh.execute(select(StoredEvent.kind).where(
            StoredEvent.customer_id == profile.id)).scalars())
        refund_ids = set(fresh.execute(select(Refund.platform_refund_id)).scalars())
    assert [p["email"] for p in export["profiles"]] == [GRACE]
    assert export["profiles"][0]["platform_customer_id"] == str(grace["id"])
    assert {o["platform_order_id"] for o in export["orders"]} == order_ids
    assert len(order_ids) == 2
    assert all(len(o["lines"]) == 1 for o in export["orders"])
    assert {r["platform_refund_id"] for r in export["refunds"]} == refund_ids
    assert [c["token"] for c in export["carts"]] == ["chk-grace"]
    assert len(export["timeline"]) == timeline_count > 0
    assert sorted(e["kind"] for e in export["events"]) == event_kinds
    assert "order_placed" in event_kinds
    assert {e["customer_id"] for e in export["events"]} == {profile.id}
    assert export["consent"] == [{"profile_id": profile.id, "email_marketing": "subscribed",
                                  "updated_at": export["profiles"][0][
                                      "email_marketing_updated_at"]}]
    assert BYSTANDER not in json.dumps(export)
    assert listing[0]["counts"] == {"profiles": 1, "orders": 2, "order_lines": 2, "refunds": 1,
                                    "carts": 1, "timeline": timeline_count,
                                    "notes": 0, "merchant_tags": 0, "referrals": 0,
                                    "events": len(event_kinds), "loyalty_members": 0,
                                    "points_ledger": 0}


def test_exports_are_scoped_to_their_store(app, client, shop, other_shop):
    mirrored = _mirror_grace_and_a_bystander(app, client)
    post_webhook(client, "customers/data_request",
                 _request("customers/data_request", mirrored["grace"]))
    run_worker(app)
    _, other_key = create_api_key(db.session, other_shop)
    db.session.commit()
    auth = {"Authorization": f"Bearer {other_key}"}
    assert client.get("/api/compliance/exports", headers=auth).get_json() == {"exports": []}
    export_id = db.session.execute(select(ComplianceExport.id)).scalar_one()
    assert client.get(f"/api/compliance/exports/{export_id}", headers=auth).status_code == 404


def test_customer_redaction_leaves_no_trace_of_the_customer(app, client, shop):
    # given Grace is mirrored and has a data-request export on file
    mirrored = _mirror_grace_and_a_bystander(app, client)
    grace = mirrored["grace"]
    post_webhook(client, "customers/data_request", _request("customers/data_request", grace))
    run_worker(app)
    assert _places_mentioning(GRACE)  # the test can see her before the redaction
    grace_id = db.session.execute(select(Customer.id).where(
        Customer.email_normalized == GRACE)).scalar_one()
    assert _count(StoredEvent, StoredEvent.customer_id == grace_id) > 0
    others = _count(StoredEvent, StoredEvent.customer_id != grace_id)
    assert others > 0
    # when Shopify asks for her redaction
    response = post_webhook(client, "customers/redact",
                            _request("customers/redact", grace, mirrored["orders"]),
                            webhook_id="redact-1")
    assert response.status_code == 200
    run_worker(app)
    # then no text, JSON or bytes column anywhere holds her email or her surname
    assert _places_mentioning(GRACE) == []
    assert _places_mentioning("Hopperton") == []
    # and her orders still count for the store, without her
    db.session.rollback()
    with db.new_session() as fresh:
        orders = fresh.execute(select(Order).where(Order.platform_order_id.in_(
            [str(o["id"]) for o in mirrored["orders"]]))).scalars().all()
        assert len(orders) == 2
        assert all(o.email is None and o.customer_id is None for o in orders)
        assert fresh.execute(select(Customer.email)).scalars().all() == [BYSTANDER]
        audit = fresh.execute(select(ComplianceAudit).where(
            ComplianceAudit.topic == "customers/redact")).scalar_one()
        assert audit.status == "done" and audit.completed_at >= audit.received_at
        assert audit.counts["profiles_deleted"] == 1
        assert audit.counts["orders_scrubbed"] == 2
        assert audit.counts["carts_deleted"] == 1
        assert audit.counts["exports_deleted"] == 1
        assert audit.counts["events_deleted"] > 0
        assert audit.counts["deliveries_deleted"] >= 5
        assert str(grace["id"]) not in json.dumps([audit.subject_hash, audit.counts,
                                                   audit.note])
        # the request's own delivery is kept (redeliveries stay no-ops) but scrubbed
        entry = fresh.execute(select(InboxEntry).where(
            InboxEntry.delivery_key == "redact-1")).scalar_one()
        assert entry.status == "processed"
        assert str(grace["id"]).encode() not in entry.payload
    # and the bystander is untouched
    assert _count(Order, Order.email == BYSTANDER) == 1
    # and no domain event is about her any more; the bystander's remain
    assert _count(StoredEvent, StoredEvent.customer_id == grace_id) == 0
    assert _count(StoredEvent) == others
    # and a redelivery of the same request changes nothing
    post_webhook(client, "customers/redact", _request("customers/redact", grace),
                 webhook_id="redact-1")
    run_worker(app)
    assert _count(ComplianceAudit, ComplianceAudit.topic == "customers/redact") == 1


def test_shop_redaction_erases_the_store_and_everything_it_owns(app, client, shop, other_shop):
    # given two stores with data
    shop_id, other_id = shop.id, other_shop.id
    _mirror_grace_and_a_bystander(app, client)
    post_webhook(client, "customers/create", customer_payload(email="keep@example.com"),
                 shop_domain="other-store.myshopify.com")
    post_webhook(client, "customers/data_request",
                 _request("customers/data_request", {"id": 1, "email": BYSTANDER}))
    run_worker(app)
    # when the first store is redacted (48 hours after its uninstall)
    post_webhook(client, "app/uninstalled", shopify_fixture("app/uninstalled"))
    run_worker(app)
    post_webhook(client, "shop/redact", _request("shop/redact"))
    run_worker(app)
    # then nothing owned by it is left, in any table
    db.session.rollback()
    with db.new_session() as fresh:
        assert fresh.get(Shop, shop_id) is None
        for table in Base.metadata.sorted_tables:
            if "shop_id" in table.c and table.name != "compliance_audit":
                left = fresh.execute(select(func.count()).select_from(table)
                                     .where(table.c.shop_id == shop_id)).scalar_one()
                assert left == 0, table.name
        assert fresh.get(Shop, other_id) is not None
        assert fresh.execute(select(func.count()).select_from(Customer)
                             .where(Customer.shop_id == other_id)).scalar_one() == 1
        audit = fresh.execute(select(ComplianceAudit).where(
            ComplianceAudit.topic == "shop/redact")).scalar_one()
        assert audit.shop_domain == SHOP and audit.status == "done"
        assert audit.counts["customers"] == 2 and audit.counts["shops"] == 1
    assert _places_mentioning(GRACE) == []
    assert _places_mentioning(BYSTANDER) == []


def test_request_for_a_store_sticky_does_not_hold_is_acknowledged_and_audited(client, ctx):
    response = post_webhook(client, "shop/redact", _request("shop/redact"),
                            shop_domain="long-gone.myshopify.com")
    assert response.status_code == 200
    audit = db.session.execute(select(ComplianceAudit)).scalar_one()
    assert (audit.topic, audit.shop_domain, audit.status) == (
        "shop/redact", "long-gone.myshopify.com", "ignored")


def test_unreadable_request_is_marked_failed_and_audited_not_retried_forever(app, client, shop):
    post_webhook(client, "customers/redact", {"shop_domain": SHOP, "customer": "nobody"},
                 webhook_id=str(uuid.uuid4()))
    run_worker(app)
    db.session.rollback()
    with db.new_session() as fresh:
        entry = fresh.execute(select(InboxEntry)).scalar_one()
        assert entry.status == "failed" and "customer" in entry.error
        audit = fresh.execute(select(ComplianceAudit)).scalar_one()
        assert audit.status == "failed"


def test_sweep_requeues_a_lifecycle_delivery_whose_job_was_lost(app, client, shop):
    from app.queue import get_queue, get_redis
    from jobs.compliance import sweep_lifecycle_deliveries

    post_webhook(client, "customers/data_request",
                 _request("customers/data_request", {"id": 1, "email": GRACE}))
    get_queue("default").empty()
    get_redis().flushdb()  # Redis lost the job and its flag
    db.session.execute(text("UPDATE inbox SET received_at = :old"),
                       {"old": "2020-01-01 00:00:00+00:00"})
    db.session.commit()
    assert sweep_lifecycle_deliveries()["requeued"]
    run_worker(app)
    assert _count(ComplianceExport) == 1
