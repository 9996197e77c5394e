"""The merchant's side of referrals: the list with blocked ones and their reasons, approval
(API and panel), the OpenAPI description, and Shopify's privacy requests."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.compliance.models import ComplianceExport
from app.loyalty.models import Referral
from tests.conftest import post_webhook, run_worker, shopify_fixture
from tests.customer_helpers import api_key_headers, csrf_from, session_token, sign_in
from tests.loyalty.referral_support import (
    claim,
    make_advocate,
    referral_for,
    run_referrals,
)

SHOP = "sticky-test.myshopify.com"


@pytest.fixture
def referred(client, shop, session, shopify_discounts):
    """One clean referral (grace) and one blocked for the advocate's name (ada2)."""
    run_referrals(session, shop)
    advocate, code = make_advocate(session, shop)
    claim(client, shop, code, "grace@example.com", first="Grace", last="Hopper")
    claim(client, shop, code, "countess@example.org", first="Ada", last="Lovelace")
    return advocate, code


def test_the_api_lists_referrals_and_filters_the_blocked_ones(client, session, shop,
                                                              other_shop, referred):
    headers = api_key_headers(session, shop)
    listing = client.get("/api/loyalty/referrals", headers=headers).get_json()
    assert listing["total"] == 2
    assert {r["friend_email"] for r in listing["referrals"]} == {"grace@example.com",
                                                                 "countess@example.org"}
    blocked = client.get("/api/loyalty/referrals?status=blocked", headers=headers).get_json()
    [row] = blocked["referrals"]
    assert row["status"] == "blocked" and "the advocate's name" in row["reason"]
    assert row["advocate"]["email"] == "ada.lovelace@gmail.com" and row["created_at"]

    bad = client.get("/api/loyalty/referrals?status=fraud", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["field"] == "status"
    other = client.get("/api/loyalty/referrals", headers=api_key_headers(session, other_shop))
    assert other.get_json()["total"] == 0  # another store sees none of them


def test_approving_through_the_api_issues_the_code_and_records_who(
        client, session, shop, other_shop, referred, shopify_discounts):
    assert shopify_discounts.creations == 1  # grace's; none for the blocked one
    blocked = referral_for(session, "countess@example.org")
    foreign = client.post(f"/api/loyalty/referrals/{blocked.id}/approve",
                          headers=api_key_headers(session, other_shop))
    assert foreign.status_code == 404

    headers = {"Authorization": f"Bearer {session_token(SHOP)}"}
    approved = client.post(f"/api/loyalty/referrals/{blocked.id}/approve", headers=headers)
    body = approved.get_json()
    assert approved.status_code == 200, body
    assert body["status"] == "approved" and body["reviewed_by"] == "Shopify staff"
    assert body["friend_code"]["status"] == "issued" and body["friend_code"]["code"]
    assert body["friend_code_issued"] is True
    sent = shopify_discounts.discounts_sent()[-1]
    assert shopify_discounts.creations == 2 and sent["code"] == body["friend_code"]["code"]
    assert sent["title"] == f"Referral welcome reward #{blocked.id}"

    again = client.post(f"/api/loyalty/referrals/{blocked.id}/approve", headers=headers)
    assert again.status_code == 409 and "only a blocked referral" in again.get_json()[
        "message"].lower()


def test_the_openapi_document_describes_the_referral_routes(client, session, shop):
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/loyalty/referrals" in spec["paths"]
    assert "post" in spec["paths"]["/api/loyalty/referrals/{id}/approve"]


def test_the_panel_page_lists_blocked_referrals_and_approves_one(client, session, shop,
                                                                 referred):
    sign_in(client, session, shop)
    html = client.get("/admin/loyalty/referrals?status=blocked").get_data(as_text=True)
    assert "countess@example.org" in html and "grace@example.com" not in html
    assert "The friend has the advocate&#39;s name" in html and ">Approve<" in html

    blocked = referral_for(session, "countess@example.org")
    token = csrf_from(client, "/admin/loyalty/referrals")
    response = client.post(f"/admin/loyalty/referrals/{blocked.id}/approve?status=blocked",
                           data={"csrf_token": token})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Referral approved" in page
    assert referral_for(session, "countess@example.org").reviewed_by == "merchant@example.com"
    assert client.get("/admin/loyalty/referrals?status=nope").status_code == 400


def test_an_unsigned_panel_post_approves_nothing(client, session, shop, referred):
    blocked = referral_for(session, "countess@example.org")
    refused = client.post(f"/admin/loyalty/referrals/{blocked.id}/approve?shop={SHOP}"
                          "&embedded=1")
    assert refused.status_code == 401
    assert referral_for(session, "countess@example.org").status == "blocked"


def _privacy_request(topic: str, email: str) -> dict:
    payload = shopify_fixture(topic)
    payload["shop_domain"] = SHOP
    payload["customer"] = {"id": 9_100_000_000_001, "email": email, "phone": None}
    for key in ("orders_requested", "orders_to_redact"):
        if key in payload:
            payload[key] = []
    return payload


def test_privacy_requests_export_and_erase_the_referrals_naming_the_shopper(
        app, client, session, shop, referred):
    post_webhook(client, "customers/data_request",
                 _privacy_request("customers/data_request", "Grace@Example.com"))
    run_worker(app)
    session.expire_all()
    export = session.execute(select(ComplianceExport)).scalar_one()
    assert [r["friend_email"] for r in export.content["referrals"]] == ["grace@example.com"]

    post_webhook(client, "customers/redact",
                 _privacy_request("customers/redact", "grace@example.com"))
    run_worker(app)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Referral)) == 1
    assert referral_for(session, "countess@example.org").status == "blocked"

    # the advocate's own request erases the referrals they made
    post_webhook(client, "customers/redact",
                 _privacy_request("customers/redact", "ada.lovelace@gmail.com"))
    run_worker(app)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Referral)) == 0

