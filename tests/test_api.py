"""`/api`: session tokens as App Bridge sends them, API keys, tenant isolation, shapes."""

from __future__ import annotations

import time

import jwt
import pytest
from openapi_spec_validator import validate

from app.db import db
from app.shops.service import create_api_key
from tests.conftest import SHOPIFY_KEY, SHOPIFY_SECRET, post_webhook, run_worker
from tests.factories import customer_payload, order_payload, refund_payload


def session_token(shop_domain: str, *, secret: str = SHOPIFY_SECRET, aud: str = SHOPIFY_KEY,
                  exp_in: float = 60, nbf_in: float = -5, iss: str | None = None) -> str:
    now = time.time()
    dest = f"https://{shop_domain}"
    claims = {"iss": iss or f"{dest}/admin", "dest": dest, "aud": aud, "sub": "42",
              "exp": int(now + exp_in), "nbf": int(now + nbf_in), "iat": int(now + nbf_in),
              "jti": "f8912129-1af6-4cad-9ca3-76b0f7621087", "sid": "aaea182f-2cc4-4e8f"}
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def populated(app, client, shop, other_shop):
    """Shop A has Ada (2 orders, one refunded in part); shop B has Bo."""
    ada = customer_payload(email="ada@example.com", first_name="Ada")
    embedded = {k: ada[k] for k in ("id", "email", "first_name", "last_name")}
    first = order_payload(customer=embedded, total="40.00", placed=0)
    for topic, payload in [("customers/create", ada), ("orders/create", first),
                           ("orders/create", order_payload(customer=embedded, total="60.00",
                                                           placed=100)),
                           ("refunds/create", refund_payload(order_id=first["id"],
                                                             amount="10.00"))]:
        assert post_webhook(client, topic, payload).status_code == 200
    bo = customer_payload(email="bo@example.com", first_name="Bo")
    assert post_webhook(client, "customers/create", bo,
                        shop_domain="other-store.myshopify.com").status_code == 200
    run_worker(app)
    return {"ada": ada, "bo": bo}


def test_session_token_lists_only_its_own_shop(client, populated):
    response = client.get("/api/customers", headers=bearer(session_token(
        "sticky-test.myshopify.com")))
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 1
    (ada,) = body["customers"]
    assert ada["email"] == "ada@example.com"
    assert ada["orders_count"] == 2
    assert ada["total_spent"] == "90.00"
    assert ada["platform_id"] == str(populated["ada"]["id"])  # a string: > 2^53
    assert ada["email_marketing"] in {"subscribed", "unsubscribed", "not_subscribed"}
    for field in ("id", "email", "first_name", "last_name", "orders_count", "total_spent",
                  "first_order_at", "last_order_at", "points_balance", "tier",
                  "email_marketing", "rfm_segment", "churn_risk", "predicted_clv"):
        assert field in ada


def test_session_token_for_shop_a_never_reads_shop_b(client, populated):
    token_a = session_token("sticky-test.myshopify.com")
    token_b = session_token("other-store.myshopify.com")
    b_list = client.get("/api/customers", headers=bearer(token_b)).get_json()
    assert [c["email"] for c in b_list["customers"]] == ["bo@example.com"]
    bo_id = b_list["customers"][0]["id"]
    assert client.get(f"/api/customers/{bo_id}", headers=bearer(token_a)).status_code == 404
    assert client.get("/api/customers?email=bo@example.com",
                      headers=bearer(token_a)).get_json()["total"] == 0


def test_customer_detail_has_orders_timeline_and_ledgers(client, populated):
    headers = bearer(session_token("sticky-test.myshopify.com"))
    (ada,) = client.get("/api/customers?q=ada", headers=headers).get_json()["customers"]
    detail = client.get(f"/api/customers/{ada['id']}", headers=headers).get_json()
    assert [o["total_price"] for o in detail["orders"]] == ["60.00", "40.00"]
    assert detail["orders"][1]["total_refunded"] == "10.00"
    assert detail["orders"][1]["line_items"][0]["quantity"] == 1
    kinds = [t["kind"] for t in detail["timeline"]]
    assert kinds.count("order_placed") == 2 and "refund_created" in kinds
    assert detail["points_ledger"] == [] and detail["messages"] == []


@pytest.mark.parametrize("make_token, reason", [
    (lambda: session_token("sticky-test.myshopify.com", exp_in=-60), "expired"),
    (lambda: session_token("sticky-test.myshopify.com", aud="another-app"), "audience"),
    (lambda: session_token("sticky-test.myshopify.com", secret="wrong"), "signature"),
    (lambda: session_token("sticky-test.myshopify.com", nbf_in=120), "not yet valid"),
    (lambda: session_token("sticky-test.myshopify.com",
                           iss="https://other-store.myshopify.com/admin"), "iss"),
])
def test_invalid_session_tokens_are_401_with_retry_header(client, populated, make_token, reason):
    response = client.get("/api/customers", headers=bearer(make_token()))
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert reason in response.get_json()["message"].lower()


def test_clock_skew_within_leeway_is_accepted(client, populated):
    token = session_token("sticky-test.myshopify.com", exp_in=-5, nbf_in=5)
    assert client.get("/api/customers", headers=bearer(token)).status_code == 200


def test_token_for_a_store_that_is_not_connected_is_401(client, populated):
    token = session_token("stranger.myshopify.com")
    response = client.get("/api/customers", headers=bearer(token))
    assert response.status_code == 401
    assert "not connected" in response.get_json()["message"]


def test_missing_credentials_is_401(client, populated):
    assert client.get("/api/customers").status_code == 401
    assert client.get("/api/customers", headers={"Authorization": "Basic abc"}).status_code == 401


def test_api_key_reads_its_store_and_can_be_revoked(ctx, client, populated, shop):
    from app.shops.service import revoke_api_key

    row, key = create_api_key(db.session, shop, "my script")
    db.session.commit()
    response = client.get("/api/customers", headers=bearer(key))
    assert response.status_code == 200
    assert [c["email"] for c in response.get_json()["customers"]] == ["ada@example.com"]
    revoke_api_key(db.session, shop, row.id)
    db.session.commit()
    response = client.get("/api/customers", headers=bearer(key))
    assert response.status_code == 401
    assert "X-Shopify-Retry-Invalid-Session-Request" not in response.headers


def test_bad_paging_is_400_with_a_reason(client, populated):
    headers = bearer(session_token("sticky-test.myshopify.com"))
    response = client.get("/api/customers?page=zero", headers=headers)
    assert response.status_code == 400
    assert "page" in response.get_json()["message"]
    assert client.get("/api/customers?per_page=1000", headers=headers).status_code == 400


def test_paging(client, app, shop):
    for i in range(7):
        post_webhook(client, "orders/create", order_payload(email=f"p{i}@example.com"))
    run_worker(app)
    headers = bearer(session_token("sticky-test.myshopify.com"))
    pages = [client.get(f"/api/customers?per_page=3&page={p}", headers=headers).get_json()
             for p in (1, 2, 3)]
    assert [len(p["customers"]) for p in pages] == [3, 3, 1]
    assert {p["total"] for p in pages} == {7}
    emails = [c["email"] for p in pages for c in p["customers"]]
    assert len(set(emails)) == 7


def test_openapi_document_is_valid_and_public(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert "/api/customers" in spec["paths"]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_healthz_reports_redis_down(client, monkeypatch):
    import app.health as health

    class Down:
        def ping(self):
            raise ConnectionError("refused")

    monkeypatch.setattr(health, "get_redis", lambda: Down())
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"] == "unreachable"


def test_published_session_token_vector_is_accepted(app, ctx, client):
    """A token from Shopify's own library tests (secret/key/claims as published)."""
    import json

    from app.shops.service import connect_shopify_by_token
    from tests.conftest import FIXTURES

    vectors = json.loads((FIXTURES / "shopify" / "hmac_vectors.json").read_text())["vectors"]
    vector = next(v for v in vectors if v["id"] == "python-session-token-admin")
    connect_shopify_by_token(db.session, vector["expected_shop"], "shpat_x")
    db.session.commit()
    saved = app.config["SHOPIFY_API_SECRET"], app.config["SHOPIFY_API_KEY"]
    app.config["SHOPIFY_API_SECRET"], app.config["SHOPIFY_API_KEY"] = (vector["secret"],
                                                                       vector["api_key"])
    try:
        response = client.get("/api/customers", headers=bearer(vector["token"]))
    finally:
        app.config["SHOPIFY_API_SECRET"], app.config["SHOPIFY_API_KEY"] = saved
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["total"] == 0
