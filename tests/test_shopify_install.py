"""Installing Sticky: managed installation (token exchange) and the authorization-code grant,
with every way a request can be rejected, plus the embedded panel's framing policy."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import responses
from sqlalchemy import func, select

from app.config import DEFAULT_SHOPIFY_SCOPES
from app.crypto import decrypt
from app.db import db
from app.queue import get_queue
from app.shops.models import Shop
from connectors.shopify import oauth
from connectors.shopify.normalize import TOPICS
from tests.conftest import FIXTURES, SHOPIFY_KEY, SHOPIFY_SECRET
from tests.test_shopify_tokens import expiring_grant, session_token, token_endpoint  # noqa: F401

NEW_SHOP = "fresh-store.myshopify.com"
ROOT = Path(__file__).resolve().parent.parent


def signed(params: dict[str, str], secret: str = SHOPIFY_SECRET) -> str:
    """A query string signed the way Shopify signs install links and callbacks."""
    message = "&".join(sorted(f"{k}={v}" for k, v in params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


def install_params(shop: str = NEW_SHOP, *, age: int = 0) -> dict[str, str]:
    return {"shop": shop, "timestamp": str(int(time.time()) - age), "host": "aG9zdA"}


def backfill_jobs() -> list[tuple[str, list]]:
    return [(job.func_name, job.args) for job in get_queue("default").get_jobs()]


def shop_count() -> int:
    # Requests made inside the test's app context share its session: end its transaction
    # (on SQLite it holds the write lock) before looking from a session of our own.
    db.session.rollback()
    with db.new_session() as fresh:
        return fresh.execute(select(func.count()).select_from(Shop)).scalar_one()


# --- query HMAC ----------------------------------------------------------------------------

VECTORS = [v for v in json.loads((FIXTURES / "shopify" / "hmac_vectors.json").read_text())
           ["vectors"] if v["kind"] == "oauth_query"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_query_hmac_matches_shopifys_published_vectors(vector):
    params = [(k, [str(x) for x in v] if isinstance(v, list) else v)
              for k, v in vector["params"].items() if k != "hmac"]
    signed_params = params + [("hmac", vector["expected_hmac"])]
    assert oauth.verify_query_hmac(signed_params, [vector["secret"]])
    assert not oauth.verify_query_hmac(signed_params, ["another secret"])
    tampered = [(k, v + "x" if isinstance(v, str) else v) for k, v in params]
    assert not oauth.verify_query_hmac(tampered + [("hmac", vector["expected_hmac"])],
                                       [vector["secret"]])


def test_app_toml_subscribes_every_handled_topic_and_the_compliance_topics():
    config = tomllib.loads((ROOT / "shopify.app.toml").read_text())
    subscriptions = config["webhooks"]["subscriptions"]
    topics = {t for s in subscriptions for t in s.get("topics", [])}
    compliance = {t for s in subscriptions for t in s.get("compliance_topics", [])}
    assert set(TOPICS) | {"app/uninstalled"} <= topics
    assert compliance == {"customers/data_request", "customers/redact", "shop/redact"}
    assert {s["uri"] for s in subscriptions} == {"/webhooks/shopify"}
    assert config["access_scopes"]["scopes"] == DEFAULT_SHOPIFY_SCOPES
    assert config["app_proxy"]["url"].endswith("/proxy")


# --- managed installation -----------------------------------------------------------------

def test_managed_install_exchanges_the_session_token_and_lands_in_the_panel(
        client, ctx, token_endpoint):  # noqa: F811
    # given a store Sticky has never seen, opening the app after a managed install
    endpoint = token_endpoint(lambda body: (200, expiring_grant("shpat_managed", "shprt_1")))
    id_token = session_token(NEW_SHOP)
    # when
    response = client.get(f"/admin?shop={NEW_SHOP}&host=aG9zdA&embedded=1&id_token={id_token}")
    db.session.rollback()
    # then the token was exchanged (expiring, offline) and stored encrypted
    assert response.status_code == 200
    [(url, body)] = endpoint.calls
    assert url == f"https://{NEW_SHOP}/admin/oauth/access_token"
    assert body["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert body["subject_token"] == id_token and body["expiring"] == 1
    with db.new_session() as fresh:
        shop = fresh.execute(select(Shop).where(Shop.domain == NEW_SHOP)).scalar_one()
        assert shop.status == "active"
        assert decrypt(shop.access_token_encrypted) == "shpat_managed"
        assert decrypt(shop.refresh_token_encrypted) == "shprt_1"
        assert "shpat_managed" not in shop.access_token_encrypted
        assert shop.access_token_expires_at is not None
        assert shop.scopes == DEFAULT_SHOPIFY_SCOPES
    # and the first backfill is queued, by name
    assert backfill_jobs() == [("jobs.sync.run_backfill", [shop.id])]
    # and the page is the embedded panel, framable only by this store's admin
    html = response.get_data(as_text=True)
    assert '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>' in html
    assert f'<meta name="shopify-api-key" content="{SHOPIFY_KEY}">' in html
    assert "/api/backfill" in html and "fresh-store" in html
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{NEW_SHOP} https://admin.shopify.com")


def test_opening_the_app_again_does_not_exchange_or_backfill_again(client, ctx,
                                                                   token_endpoint):  # noqa: F811
    endpoint = token_endpoint(lambda body: (200, expiring_grant("shpat_managed", "shprt_1")))
    for _ in range(2):
        token = session_token(NEW_SHOP)
        assert client.get(f"/admin?shop={NEW_SHOP}&embedded=1&id_token={token}").status_code == 200
        db.session.rollback()
    assert len(endpoint.calls) == 1
    assert len(backfill_jobs()) == 1
    assert shop_count() == 1


def test_admin_without_session_token_or_shop_goes_to_the_standalone_sign_in(client):
    response = client.get("/admin")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/login"


def test_admin_with_a_shop_but_no_token_bounces_through_app_bridge(client):
    response = client.get(f"/admin?shop={NEW_SHOP}&host=aG9zdA&embedded=1")
    assert response.status_code == 302
    location = urlparse(response.headers["Location"])
    assert location.path == "/admin/patch-id-token"
    query = parse_qs(location.query)
    assert query["shop"] == [NEW_SHOP]
    assert query["shopify-reload"][0].startswith("/admin?")
    page = client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "https://cdn.shopify.com/shopifycloud/app-bridge.js" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{NEW_SHOP} https://admin.shopify.com")


def test_expired_session_token_on_the_page_bounces_and_on_a_fetch_is_401(client, ctx, shop,
                                                                          token_endpoint):  # noqa: F811
    endpoint = token_endpoint(lambda body: (200, expiring_grant("x", "y")))
    expired = session_token(expires_in=-60)
    page = client.get(f"/admin?shop=sticky-test.myshopify.com&embedded=1&id_token={expired}")
    assert page.status_code == 302
    assert urlparse(page.headers["Location"]).path == "/admin/patch-id-token"
    fetch = client.get("/api/customers", headers={"Authorization": f"Bearer {expired}"})
    assert fetch.status_code == 401
    assert fetch.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert endpoint.calls == []


@pytest.mark.parametrize("token_kwargs, reason", [
    ({"aud": "someone-elses-app"}, "invalid_aud"),
    ({"iss": "https://elsewhere.myshopify.com/admin"}, "iss does not match"),
    ({"dest": "https://evil.example.com", "iss": "https://evil.example.com/admin"},
     "not a Shopify store"),
])
def test_session_token_for_another_app_or_host_is_refused_with_a_page(
        client, ctx, token_endpoint, token_kwargs, reason):  # noqa: F811
    endpoint = token_endpoint(lambda body: (200, expiring_grant("x", "y")))
    token = session_token(NEW_SHOP, **token_kwargs)
    response = client.get(f"/admin?embedded=1&id_token={token}")
    assert response.status_code == 401
    assert reason in response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert endpoint.calls == [] and shop_count() == 0


def test_session_token_for_another_store_than_the_shop_parameter_is_refused(
        client, ctx, token_endpoint):  # noqa: F811
    token_endpoint(lambda body: (200, expiring_grant("x", "y")))
    token = session_token("other-store.myshopify.com")
    response = client.get(f"/admin?shop={NEW_SHOP}&id_token={token}")
    assert response.status_code == 401
    assert "another store" in response.get_data(as_text=True)


def test_shopify_refusing_the_exchange_is_a_clear_page_not_a_500(client, ctx,
                                                                 token_endpoint):  # noqa: F811
    token_endpoint(lambda body: (400, {"error": "invalid_subject_token"}))
    response = client.get(f"/admin?shop={NEW_SHOP}&id_token={session_token(NEW_SHOP)}")
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert shop_count() == 0


# --- authorization-code grant ---------------------------------------------------------------

def _start_install(client) -> str:
    response = client.get("/auth/shopify/install?" + signed(install_params()))
    assert response.status_code == 302
    consent = urlparse(response.headers["Location"])
    assert (consent.scheme, consent.netloc, consent.path) == (
        "https", NEW_SHOP, "/admin/oauth/authorize")
    query = parse_qs(consent.query)
    assert query["client_id"] == [SHOPIFY_KEY]
    assert query["scope"] == [DEFAULT_SHOPIFY_SCOPES]
    assert query["redirect_uri"] == ["https://sticky.test/auth/shopify/callback"]
    return query["state"][0]


def _callback(client, state: str, *, shop: str = NEW_SHOP, age: int = 0):
    params = {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": shop, "state": state,
              "timestamp": str(int(time.time()) - age), "host": "aG9zdA"}
    return client.get("/auth/shopify/callback?" + signed(params))


@responses.activate
def test_authorization_code_grant_installs_and_lands_in_the_admin(client, ctx):
    # given Shopify's token endpoint answers the code exchange
    responses.post(f"https://{NEW_SHOP}/admin/oauth/access_token",
                   json=expiring_grant("shpat_code", "shprt_code"))
    # when the merchant installs, approves and comes back
    state = _start_install(client)
    response = _callback(client, state)
    db.session.rollback()
    # then
    assert response.status_code == 302
    assert response.headers["Location"] == f"https://{NEW_SHOP}/admin/apps/{SHOPIFY_KEY}"
    body = json.loads(responses.calls[0].request.body)
    assert body == {"client_id": SHOPIFY_KEY, "client_secret": SHOPIFY_SECRET,
                    "code": "0907a61c0c8d55e99db179b68161bc00", "expiring": 1}
    with db.new_session() as fresh:
        shop = fresh.execute(select(Shop).where(Shop.domain == NEW_SHOP)).scalar_one()
        assert decrypt(shop.access_token_encrypted) == "shpat_code"
        assert decrypt(shop.refresh_token_encrypted) == "shprt_code"
    assert backfill_jobs() == [("jobs.sync.run_backfill", [shop.id])]


@responses.activate
def test_replayed_state_is_refused(client, ctx):
    responses.post(f"https://{NEW_SHOP}/admin/oauth/access_token",
                   json=expiring_grant("shpat_code", "shprt_code"))
    state = _start_install(client)
    assert _callback(client, state).status_code == 302
    replay = _callback(client, state)
    assert replay.status_code == 401
    assert "already used or has expired" in replay.get_data(as_text=True)
    assert len(responses.calls) == 1


@responses.activate
def test_wrong_state_another_browser_or_another_shop_is_refused(client, app, ctx):
    state = _start_install(client)
    assert _callback(client, "made-up-state").status_code == 401
    # the right state presented from a browser that did not start the install
    stranger = app.test_client()
    assert _callback(stranger, state).status_code == 401
    # a fresh state used for another store
    other_state = _start_install(client)
    assert _callback(client, other_state, shop="other-store.myshopify.com").status_code == 401
    assert len(responses.calls) == 0 and shop_count() == 0


@pytest.mark.parametrize("mutate, status, text", [
    (lambda q: q.replace("hmac=", "hmac=00"), 401, "signature"),
    (lambda q: q + "&extra=1", 401, "signature"),
])
def test_install_link_with_a_bad_hmac_is_refused(client, ctx, mutate, status, text):
    response = client.get("/auth/shopify/install?" + mutate(signed(install_params())))
    assert response.status_code == status
    assert text in response.get_data(as_text=True)
    assert response.mimetype == "text/html"


def test_install_link_signed_with_another_secret_is_refused(client):
    response = client.get("/auth/shopify/install?" + signed(install_params(), "not-the-secret"))
    assert response.status_code == 401


def test_stale_install_link_is_refused(client):
    response = client.get("/auth/shopify/install?" + signed(install_params(age=3600)))
    assert response.status_code == 401
    assert "expired" in response.get_data(as_text=True)


def test_stale_callback_is_refused(client, ctx):
    state = _start_install(client)
    assert _callback(client, state, age=3600).status_code == 401


@pytest.mark.parametrize("shop", ["evil.example.com", "shop.myshopify.com.evil.com",
                                  "https://fresh-store.myshopify.com", "", "a b.myshopify.com"])
def test_foreign_shop_domain_is_refused_even_when_signed(client, shop):
    response = client.get("/auth/shopify/install?" + signed(install_params(shop)))
    assert response.status_code == 400
    assert "name.myshopify.com" in response.get_data(as_text=True)


@responses.activate
def test_a_refused_code_exchange_is_a_clear_page(client, ctx):
    responses.post(f"https://{NEW_SHOP}/admin/oauth/access_token", status=400,
                   json={"error": "invalid_request",
                         "error_description": "The authorization code was not found or was "
                                              "already used"})
    state = _start_install(client)
    response = _callback(client, state)
    assert response.status_code == 401
    assert "refused" in response.get_data(as_text=True)
    assert shop_count() == 0


@responses.activate
def test_fewer_scopes_granted_than_needed_is_refused(client, ctx):
    responses.post(f"https://{NEW_SHOP}/admin/oauth/access_token",
                   json=expiring_grant("shpat_code", "shprt", scope="read_orders"))
    state = _start_install(client)
    response = _callback(client, state)
    assert response.status_code == 400
    assert "read_customers" in response.get_data(as_text=True)
    assert shop_count() == 0


def test_html_pages_without_a_known_shop_cannot_be_framed(client):
    response = client.get("/auth/shopify/install")
    assert response.status_code == 400
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
