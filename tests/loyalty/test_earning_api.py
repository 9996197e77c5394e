"""`POST /api/customers/<id>/points` (manual adjustments), the ledger in a customer's profile
and in their data export."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from app.db import db
from app.loyalty.models import LedgerEntry
from app.loyalty.program import save_program
from app.profiles.models import Customer
from app.shops.service import create_api_key
from tests.conftest import shopify_fixture
from tests.factories import customer_payload, order_payload
from tests.loyalty.earning_support import balance, deliver, enable, settle


@pytest.fixture
def ada(shop, session):
    row = Customer(shop_id=shop.id, platform_customer_id="207119551", email="ada@example.com",
                   email_normalized="ada@example.com")
    session.add(row)
    session.commit()
    return row.id


def auth(shop) -> dict[str, str]:
    db.session.rollback()
    _, key = create_api_key(db.session, shop)
    db.session.commit()
    return {"Authorization": f"Bearer {key}"}


def test_a_manual_adjustment_is_a_ledger_entry_with_its_reason(client, shop, ada):
    headers = auth(shop)
    response = client.post(f"/api/customers/{ada}/points", headers=headers,
                           json={"points": 150, "reason": "  Goodwill for a late parcel  "})
    assert response.status_code == 201
    body = response.get_json()
    assert {k: body[k] for k in ("kind", "points", "status", "reason", "source", "order_id",
                                 "rate", "available_at", "points_balance")} == {
        "kind": "adjust", "points": 150, "status": "available",
        "reason": "Goodwill for a late parcel", "source": "merchant", "order_id": None,
        "rate": None, "available_at": None, "points_balance": 150}
    assert isinstance(body["id"], int) and body["created_at"]
    # a deduction
    response = client.post(f"/api/customers/{ada}/points", headers=headers,
                           json={"points": -50, "reason": "Duplicate goodwill"})
    assert response.status_code == 201 and response.get_json()["points_balance"] == 100
    # the profile shows the ledger, newest first
    profile = client.get(f"/api/customers/{ada}", headers=headers).get_json()
    assert profile["points_balance"] == 100
    assert [(e["kind"], e["points"], e["reason"]) for e in profile["points_ledger"]] == [
        ("adjust", -50, "Duplicate goodwill"), ("adjust", 150, "Goodwill for a late parcel")]
    assert set(profile["points_ledger"][0]) >= {"id", "kind", "points", "status", "reason",
                                                "source", "order_id", "rate", "created_at",
                                                "available_at"}


def test_an_idempotency_key_makes_a_retried_request_one_adjustment(client, shop, ada):
    headers = {**auth(shop), "Idempotency-Key": "6f1c7a52-0d0e-4c55-9d4a-2b1f6c8e1a11"}
    body = {"points": 40, "reason": "Survey thank-you"}
    first = client.post(f"/api/customers/{ada}/points", headers=headers, json=body)
    again = client.post(f"/api/customers/{ada}/points", headers=headers, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert balance(shop, ada) == 40
    # the same key for something else is refused, and changes nothing
    other = client.post(f"/api/customers/{ada}/points", headers=headers,
                        json={"points": 400, "reason": "Survey thank-you"})
    assert other.status_code == 409 and "Idempotency-Key" in other.get_json()["message"]
    assert balance(shop, ada) == 40


@pytest.mark.parametrize("body, says", [
    ({"points": 0, "reason": "x"}, "points: must not be 0"),
    ({"points": 2.5, "reason": "x"}, "points: must be a whole number"),
    ({"points": "10", "reason": "x"}, "points: must be a whole number"),
    ({"points": True, "reason": "x"}, "points: must be a whole number"),
    ({"points": 1_000_001, "reason": "x"}, "points: must be at most 1,000,000"),
    ({"points": -1_000_001, "reason": "x"}, "points: must be at most 1,000,000"),
    ({"points": 10}, "reason: say why"),
    ({"points": 10, "reason": "   "}, "reason: say why"),
    ({"points": 10, "reason": "x" * 501}, "reason: must be at most 500 characters"),
    ([10, "x"], "send a JSON object"),
])
def test_a_bad_adjustment_is_refused_with_its_reason(client, shop, ada, body, says):
    response = client.post(f"/api/customers/{ada}/points", headers=auth(shop), json=body)
    assert response.status_code == 400
    assert says in response.get_json()["message"]
    assert db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar() == 0


def test_another_stores_customer_is_not_found_and_a_floor_is_kept(client, shop, other_shop,
                                                                  ada):
    response = client.post(f"/api/customers/{ada}/points", headers=auth(other_shop),
                           json={"points": 10, "reason": "x"})
    assert response.status_code == 404
    db.session.rollback()
    save_program(db.session, shop.id, {"negative_balance": "floor_zero"})
    db.session.commit()
    response = client.post(f"/api/customers/{ada}/points", headers=auth(shop),
                           json={"points": -10, "reason": "Correction"})
    assert response.status_code == 409
    assert "the balance is 0" in response.get_json()["message"]
    assert balance(shop, ada) == 0


def test_the_openapi_document_describes_the_adjustment(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    post = spec["paths"]["/api/customers/{id}/points"]["post"]
    assert set(post["responses"]) >= {"201", "400", "404", "409"}


def test_a_data_request_exports_the_customers_points_and_redaction_removes_them(
        app, client, shop):
    enable(shop)
    ada = customer_payload(customer_id=207119551, email="ada@example.com")
    deliver(client, "customers/create", ada)
    deliver(client, "orders/paid", order_payload(customer=ada, total="25.00"))
    settle(app)
    request = shopify_fixture("customers/data_request")
    request.update(shop_domain=shop.domain, customer={"id": 207119551,
                                                      "email": "ada@example.com",
                                                      "phone": None}, orders_requested=[])
    deliver(client, "customers/data_request", request)
    settle(app)
    headers = auth(shop)
    [listed] = client.get("/api/compliance/exports", headers=headers).get_json()["exports"]
    export = client.get(listed["download"], headers=headers).get_json()
    assert [(e["kind"], e["points"], e["reason"].split(": ", 1)[1])
            for e in export["points_ledger"]] == [("earn", 25, "25.00 USD at 1 point per USD")]
    assert listed["counts"]["points_ledger"] == 1
    assert listed["counts"]["loyalty_members"] == 1
    # and customers/redact leaves none of it
    redact = shopify_fixture("customers/redact")
    redact.update(shop_domain=shop.domain, customer={"id": 207119551,
                                                     "email": "ada@example.com",
                                                     "phone": None}, orders_to_redact=[])
    deliver(client, "customers/redact", redact)
    settle(app)
    assert db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar() == 0
