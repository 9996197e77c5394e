"""Admin API tokens: refresh ahead of expiry (serialized per shop), migration to expiring.

Shopify is stubbed only at the network edge: shopifyapp's httpx calls through an
`httpx.MockTransport`, Sticky's own requests calls through `responses`. Answers are shaped like
Shopify's documented token endpoint responses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import jwt
import pytest
import responses
from sqlalchemy import select

from app.crypto import decrypt, encrypt
from app.db import db, utcnow
from app.shops.models import Shop
from app.shops.tokens import TokenError, admin_access_token, migrate_to_expiring
from connectors.shopify import oauth
from tests.conftest import SHOPIFY_KEY, SHOPIFY_SECRET

SHOP = "sticky-test.myshopify.com"


def session_token(shop: str = SHOP, *, secret: str = SHOPIFY_SECRET, aud: str = SHOPIFY_KEY,
                  expires_in: int = 60, **overrides) -> str:
    """An App Bridge session token as Shopify issues it (HS256, signed with the app secret)."""
    now = int(time.time())
    claims = {"iss": f"https://{shop}/admin", "dest": f"https://{shop}", "aud": aud,
              "sub": "42", "exp": now + expires_in, "nbf": now - 5, "iat": now - 5,
              "jti": f"jti-{now}-{expires_in}", "sid": "session-1"}
    claims.update(overrides)
    return jwt.encode(claims, secret, algorithm="HS256")


def expiring_grant(access: str, refresh: str, scope: str = "read_customers,write_customers,"
                   "read_orders,read_checkouts,write_discounts") -> dict:
    """Shopify's answer for an expiring offline token (token exchange, code grant, refresh)."""
    return {"access_token": access, "expires_in": 3599, "refresh_token": refresh,
            "refresh_token_expires_in": 7775999, "scope": scope}


class TokenEndpoint:
    """Stands in for https://<shop>/admin/oauth/access_token behind shopifyapp's httpx client."""

    def __init__(self, answer: Callable[[dict], tuple[int, dict]], delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        with self._lock:
            self.calls.append((str(request.url), body))
        time.sleep(self.delay)
        status, data = self.answer(body)
        return httpx.Response(status, json=data)


@pytest.fixture
def token_endpoint(monkeypatch):
    """Install a TokenEndpoint at the httpx transport; returns a setter taking the answer."""
    def install(answer, delay: float = 0.0) -> TokenEndpoint:
        endpoint = TokenEndpoint(answer, delay)
        monkeypatch.setattr(oauth, "HTTPX_TRANSPORT", httpx.MockTransport(endpoint))
        return endpoint
    return install


def _expiring_shop(session, *, expires_in: timedelta, refresh: str = "shprt_old") -> Shop:
    shop = session.execute(select(Shop).where(Shop.domain == SHOP)).scalar_one()
    shop.access_token_encrypted = encrypt("shpat_old")
    shop.refresh_token_encrypted = encrypt(refresh)
    shop.access_token_expires_at = utcnow() + expires_in
    shop.refresh_token_expires_at = utcnow() + timedelta(days=90)
    session.commit()
    return shop


def test_usable_token_is_returned_decrypted_without_calling_shopify(session, shop,
                                                                    token_endpoint):
    # given an expiring token with 30 minutes left
    endpoint = token_endpoint(lambda body: (500, {}))
    _expiring_shop(session, expires_in=timedelta(minutes=30))
    # when
    token = admin_access_token(session, shop)
    # then
    assert token == "shpat_old"
    assert endpoint.calls == []


def test_custom_app_token_that_never_expires_is_used_as_is(session, shop):
    assert admin_access_token(session, shop) == "shpat_test_token"


def test_uninstalled_or_tokenless_shop_raises_a_clear_error(session, shop):
    shop.status = "uninstalled"
    session.commit()
    with pytest.raises(TokenError, match="uninstalled"):
        admin_access_token(session, shop)
    shop.status, shop.access_token_encrypted = "active", None
    session.commit()
    with pytest.raises(TokenError, match="no Admin API token"):
        admin_access_token(session, shop)


def test_token_within_five_minutes_of_expiry_is_refreshed_and_the_pair_rotated(
        session, shop, token_endpoint):
    # given a token that expires in 4 minutes
    endpoint = token_endpoint(lambda body: (200, expiring_grant("shpat_new", "shprt_new")))
    _expiring_shop(session, expires_in=timedelta(minutes=4))
    # when
    token = admin_access_token(session, shop)
    # then Shopify got a refresh_token grant with the old refresh token
    assert token == "shpat_new"
    [(url, body)] = endpoint.calls
    assert url == f"https://{SHOP}/admin/oauth/access_token"
    assert body["grant_type"] == "refresh_token"
    assert body["refresh_token"] == "shprt_old"
    assert body["client_id"] == SHOPIFY_KEY
    # and the new pair is stored, encrypted, with its new expiry
    with db.new_session() as fresh:
        stored = fresh.get(Shop, shop.id)
        assert decrypt(stored.access_token_encrypted) == "shpat_new"
        assert decrypt(stored.refresh_token_encrypted) == "shprt_new"
        assert "shprt_new" not in stored.refresh_token_encrypted
        assert stored.access_token_expires_at > utcnow() + timedelta(minutes=55)


def test_two_racing_requests_refresh_once_and_share_the_new_token(app, session, shop,
                                                                  token_endpoint):
    # given an expired token and a slow token endpoint
    endpoint = token_endpoint(lambda body: (200, expiring_grant("shpat_new", "shprt_new")),
                              delay=0.4)
    _expiring_shop(session, expires_in=timedelta(seconds=-10))
    session.close()
    results: dict[int, str] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            with app.app_context(), db.new_session() as own:
                start.wait()
                row = own.get(Shop, shop.id)
                results[n] = admin_access_token(own, row)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # when two requests need the token at the same moment
    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)

    # then exactly one refresh went to Shopify and both got the new token
    assert errors == []
    assert len(endpoint.calls) == 1
    assert results == {1: "shpat_new", 2: "shpat_new"}
    with db.new_session() as fresh:
        stored = fresh.get(Shop, shop.id)
        assert decrypt(stored.refresh_token_encrypted) == "shprt_new"


def test_refused_refresh_raises_token_error_and_keeps_the_stored_pair(session, shop,
                                                                      token_endpoint):
    token_endpoint(lambda body: (400, {"error": "invalid_grant",
                                       "error_description": "refresh token revoked"}))
    _expiring_shop(session, expires_in=timedelta(minutes=1))
    shop_id = shop.id
    with pytest.raises(TokenError, match="open Sticky"):
        admin_access_token(session, shop)
    session.rollback()
    with db.new_session() as fresh:
        assert decrypt(fresh.get(Shop, shop_id).refresh_token_encrypted) == "shprt_old"


@responses.activate
def test_non_expiring_token_is_migrated_to_an_expiring_one(session, shop):
    # given a shop holding a non-expiring offline token
    responses.post(f"https://{SHOP}/admin/oauth/access_token",
                   json=expiring_grant("shpat_expiring", "shprt_first"))
    # when
    assert migrate_to_expiring(session, shop) is True
    # then Shopify got the documented migration exchange
    body = json.loads(responses.calls[0].request.body)
    assert body["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert body["subject_token"] == "shpat_test_token"
    assert body["subject_token_type"] == oauth.OFFLINE_TOKEN_TYPE
    assert body["requested_token_type"] == oauth.OFFLINE_TOKEN_TYPE
    assert body["expiring"] == 1
    with db.new_session() as fresh:
        stored = fresh.get(Shop, shop.id)
        assert decrypt(stored.access_token_encrypted) == "shpat_expiring"
        assert decrypt(stored.refresh_token_encrypted) == "shprt_first"
        assert stored.access_token_expires_at is not None
    # and a second run finds nothing to migrate
    assert migrate_to_expiring(session, shop) is False
    assert len(responses.calls) == 1


@responses.activate
def test_refused_migration_raises_and_changes_nothing(session, shop):
    responses.post(f"https://{SHOP}/admin/oauth/access_token", status=400,
                   json={"error": "invalid_subject_token"})
    shop_id = shop.id
    with pytest.raises(TokenError, match="could not migrate"):
        migrate_to_expiring(session, shop)
    with db.new_session() as fresh:
        stored = fresh.get(Shop, shop_id)
        assert decrypt(stored.access_token_encrypted) == "shpat_test_token"
        assert stored.access_token_expires_at is None


def test_opening_the_app_migrates_a_non_expiring_token_by_token_exchange(client, session, shop,
                                                                          token_endpoint):
    # given the shop's stored token never expires
    endpoint = token_endpoint(lambda body: (200, expiring_grant("shpat_exchanged", "shprt_x")))
    id_token = session_token()
    shop_id = shop.id
    # when the merchant opens the embedded app
    response = client.get(f"/admin?shop={SHOP}&host=aG9zdA&embedded=1&id_token={id_token}")
    session.rollback()  # the request ran in this test's app context and session
    # then the session token was exchanged for an expiring offline token
    assert response.status_code == 200
    [(_, body)] = endpoint.calls
    assert body["subject_token"] == id_token
    assert body["requested_token_type"] == oauth.OFFLINE_TOKEN_TYPE
    assert body["expiring"] == 1
    with db.new_session() as fresh:
        stored = fresh.get(Shop, shop_id)
        assert decrypt(stored.access_token_encrypted) == "shpat_exchanged"
        assert stored.access_token_expires_at is not None
