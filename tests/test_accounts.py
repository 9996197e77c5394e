"""Standalone panel accounts: sign-up, sign-in, sessions, CSRF, rate limits, store access, and
`/api` through a signed-in session."""

from __future__ import annotations

import re

import pytest
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from app.accounts import service as accounts_service
from app.accounts.models import Account, AccountShop
from app.accounts.service import create_account, link_account_to_shop
from app.db import db
from app.profiles.models import Customer
from app.queue import get_redis
from app.shops.models import Shop

PASSWORD = "correct horse battery"
EMAIL = "merchant@example.com"


# -- helpers ------------------------------------------------------------------------------


def woo_shop(domain: str) -> Shop:
    shop = Shop(platform="woocommerce", domain=domain, currency="EUR",
                api_base_url=f"https://{domain}")
    db.session.add(shop)
    db.session.flush()
    return shop


def csrf_from(client, path: str = "/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def log_in(client, email: str = EMAIL, password: str = PASSWORD):
    token = csrf_from(client)
    return client.post("/admin/login", data={"email": email, "password": password,
                                             "csrf_token": token})


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("sticky_session")
    return cookie.value if cookie else None


@pytest.fixture
def account(session):
    account = create_account(session, EMAIL, PASSWORD)
    session.commit()
    return account


# -- sign-up ------------------------------------------------------------------------------


def test_signup_creates_a_hashed_account_and_signs_in(client, session):
    # given the sign-up page
    token = csrf_from(client, "/admin/signup")
    # when a merchant signs up
    response = client.post("/admin/signup", data={
        "email": " Ada@Example.com ", "password": PASSWORD, "password_confirm": PASSWORD,
        "csrf_token": token})

    # then they land on their (empty) stores page, signed in
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/stores")
    page = client.get("/admin/stores").get_data(as_text=True)
    assert "No store is linked to your account yet" in page
    assert "Ada@Example.com" in page
    # and the password is stored as a salted scrypt hash, never as given
    row = session.execute(select(Account)).scalar_one()
    assert row.email_normalized == "ada@example.com"
    assert row.password_hash.startswith("scrypt:") and PASSWORD not in row.password_hash


@pytest.mark.parametrize("email, password, confirm, message", [
    ("not-an-email", PASSWORD, PASSWORD, "Enter a valid email address."),
    (EMAIL, "short", "short", "at least 10 characters"),
    (EMAIL, PASSWORD, PASSWORD + "x", "The two passwords do not match."),
    (EMAIL, EMAIL, EMAIL, "must not be your email"),
])
def test_signup_explains_what_is_wrong(client, session, email, password, confirm, message):
    token = csrf_from(client, "/admin/signup")
    response = client.post("/admin/signup", data={
        "email": email, "password": password, "password_confirm": confirm,
        "csrf_token": token})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert session.execute(select(Account)).first() is None


def test_signup_with_a_taken_email_says_so(client, account):
    token = csrf_from(client, "/admin/signup")
    response = client.post("/admin/signup", data={
        "email": EMAIL.upper(), "password": PASSWORD, "password_confirm": PASSWORD,
        "csrf_token": token})
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)


# -- sign-in, sessions --------------------------------------------------------------------


def test_login_rotates_the_session(client, account, session):
    # given a visitor whose pre-login session holds something (e.g. planted by an attacker)
    with client.session_transaction() as pre:
        pre["planted"] = "by-someone-else"
    pre_login_csrf = csrf_from(client)
    pre_login_cookie = session_cookie(client)

    # when they sign in
    response = log_in(client)

    # then nothing of the old session survives, including its CSRF token
    assert response.status_code == 302
    assert session_cookie(client) != pre_login_cookie
    with client.session_transaction() as post:
        assert "planted" not in post
        assert post["account_id"] == account.id
    assert csrf_from(client, "/admin/stores") != pre_login_csrf
    session.expire_all()
    assert session.get(Account, account.id).last_login_at is not None


def test_session_cookie_is_httponly_lax_and_secure_on_https(client, account):
    response = log_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "sticky_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" in cookie  # the test app's APP_URL is https
    assert "Expires=" in cookie  # a permanent session with a lifetime, not forever


def test_wrong_password_and_unknown_email_get_the_same_answer(client, account, session):
    wrong = log_in(client, password="not the password")
    unknown = log_in(client, email="nobody@example.com")

    message = "That email and password do not match an account."
    assert wrong.status_code == unknown.status_code == 401
    assert message in wrong.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)
    assert client.get("/admin/stores").status_code == 302  # still signed out
    session.expire_all()
    assert session.get(Account, account.id).failed_logins == 1


def test_unknown_email_costs_a_password_hash_check_too(client, account, monkeypatch):
    # Timing must not reveal which emails have accounts: count real hash checks (spy only).
    calls: list[str] = []
    real = accounts_service.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(accounts_service, "check_password_hash", counting)
    log_in(client, email="nobody@example.com", password="guess guess guess")
    log_in(client, password="guess guess guess")
    assert calls == ["scrypt:32768:8:1", "scrypt:32768:8:1"]


def test_logout_ends_the_session_and_invalidates_copies_of_the_cookie(client, account):
    # given a signed-in session, and a copy of its cookie (e.g. stolen)
    log_in(client)
    stolen = session_cookie(client)
    token = csrf_from(client, "/admin/stores")

    # when the merchant signs out
    response = client.post("/admin/logout", data={"csrf_token": token})

    # then the session is gone, and replaying the copied cookie does not sign anyone in
    assert response.status_code == 302
    assert client.get("/admin/stores").status_code == 302
    client.set_cookie("sticky_session", stolen, domain="localhost")
    replay = client.get("/admin/stores")
    assert replay.status_code == 302
    assert replay.headers["Location"].endswith("/admin/login")


def test_stores_page_requires_sign_in(client):
    response = client.get("/admin/stores")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/login")


# -- CSRF ---------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused_with_a_reason(client, account):
    response = client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 400
    assert "The CSRF token is missing." in response.get_data(as_text=True)
    assert client.get("/admin/stores").status_code == 302


def test_logout_with_a_forged_csrf_token_is_refused(client, account):
    log_in(client)
    csrf_from(client, "/admin/stores")  # the session now holds a real token
    response = client.post("/admin/logout", data={"csrf_token": "forged.token.value"})
    assert response.status_code == 400
    assert "The CSRF token is invalid." in response.get_data(as_text=True)
    assert client.get("/admin/stores").status_code == 200  # still signed in


def test_webhook_and_api_routes_are_not_csrf_checked(client, shop):
    # Token/signature-authenticated routes answer for themselves (401), not with a CSRF 400.
    assert client.post("/webhooks/shopify", data=b"{}").status_code == 401
    assert client.get("/api/customers").status_code == 401


# -- rate limit ---------------------------------------------------------------------------


def test_sign_in_is_rate_limited_per_ip_and_email(app, client, account):
    # given five wrong passwords for one email within a minute
    for _ in range(5):
        assert log_in(client, password="wrong wrong wrong").status_code == 401

    # then even the right password waits, with an explanation and Retry-After
    limited = log_in(client)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/admin/stores").status_code == 302
    # and another email from the same connection is counted separately
    assert log_in(client, email="someone-else@example.com").status_code == 401
    # the counts live in the app's Redis, shared by every web process
    assert get_redis(app).keys("*login:*merchant@example.com*")


def test_rate_limiter_uses_the_app_redis_without_connecting_at_start(app):
    from app.accounts import AppRedisPool, limiter

    assert type(limiter.storage).__name__ == "RedisStorage"
    assert isinstance(limiter.storage.storage.connection_pool, AppRedisPool)


# -- stores -------------------------------------------------------------------------------


def test_account_sees_and_selects_only_its_linked_stores(client, account, session):
    # given two stores, one linked to the account
    mine = woo_shop("mine.example")
    theirs = woo_shop("theirs.example")
    link_account_to_shop(session, account.id, mine.id)
    link_account_to_shop(session, account.id, mine.id)  # idempotent
    session.commit()
    log_in(client)

    # then the stores page lists only the linked one, with the connect form
    page = client.get("/admin/stores").get_data(as_text=True)
    assert "mine.example" in page and "theirs.example" not in page
    assert 'action="/woocommerce/connect"' in page and 'name="store_url"' in page
    assert session.execute(select(AccountShop)).scalars().all().__len__() == 1

    # and selecting the other store is refused, selecting its own works
    token = csrf_from(client, "/admin/stores")
    refused = client.post("/admin/stores/select", data={"shop_id": theirs.id,
                                                        "csrf_token": token})
    assert refused.status_code == 403
    chosen = client.post("/admin/stores/select", data={"shop_id": mine.id, "csrf_token": token})
    assert chosen.status_code == 302
    with client.session_transaction() as state:
        assert state["shop_id"] == mine.id


# -- /api through the panel session -------------------------------------------------------


def test_api_answers_a_signed_in_session_for_its_selected_store_only(client, account, session):
    # given two stores with one customer each, the account linked to the first
    mine = woo_shop("mine.example")
    theirs = woo_shop("theirs.example")
    for shop, email in ((mine, "a@mine.example"), (theirs, "b@theirs.example")):
        session.add(Customer(shop_id=shop.id, email=email, email_normalized=email,
                             email_marketing="not_subscribed", orders_count=0,
                             total_spent=0, points_balance=0))
    link_account_to_shop(session, account.id, mine.id)
    session.commit()
    log_in(client)
    token = csrf_from(client, "/admin/stores")
    client.post("/admin/stores/select", data={"shop_id": mine.id, "csrf_token": token})

    # when the panel calls /api without an Authorization header
    response = client.get("/api/customers")

    # then it sees its store's customers only
    assert response.status_code == 200
    assert [c["email"] for c in response.get_json()["customers"]] == ["a@mine.example"]

    # and a session pointing at an unlinked store is refused
    with client.session_transaction() as state:
        state["shop_id"] = theirs.id
    refused = client.get("/api/customers")
    assert refused.status_code == 403
    assert "not linked" in refused.get_json()["message"]


def test_api_session_without_a_chosen_store_or_sign_in_is_refused(client, account):
    assert client.get("/api/customers").status_code == 401  # nobody signed in
    log_in(client)
    response = client.get("/api/customers")
    assert response.status_code == 403
    assert "choose a store" in response.get_json()["message"]


def test_api_session_writes_need_the_csrf_header(app, client, account, session):
    # given a signed-in session with a selected store
    mine = woo_shop("mine.example")
    link_account_to_shop(session, account.id, mine.id)
    session.commit()
    log_in(client)
    token = csrf_from(client, "/admin/stores")
    client.post("/admin/stores/select", data={"shop_id": mine.id, "csrf_token": token})
    cookie = f"sticky_session={session_cookie(client)}"

    from app.api.auth import authenticate

    # when a mutating /api request comes from that session without X-CSRFToken: refused
    with app.test_request_context("/api/customers", method="POST",
                                  headers={"Cookie": cookie}):
        with pytest.raises(CSRFError, match="The CSRF token is missing."):
            authenticate()
    # and with the session's token it is accepted for the selected store
    with app.test_request_context("/api/customers", method="POST",
                                  headers={"Cookie": cookie, "X-CSRFToken": token}):
        assert authenticate().id == mine.id


# -- CLI ----------------------------------------------------------------------------------


def test_cli_creates_links_and_resets_accounts(app, session):
    shop = woo_shop("cli-store.example")
    session.commit()
    runner = app.test_cli_runner()

    created = runner.invoke(args=["accounts", "add", "ops@example.com"],
                            input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    assert "sign in at /admin/login" in created.output

    duplicate = runner.invoke(args=["accounts", "add", "OPS@example.com",
                                    "--password", PASSWORD])
    assert duplicate.exit_code == 2
    assert "already exists" in duplicate.output

    linked = runner.invoke(args=["accounts", "link", "ops@example.com", "cli-store.example"])
    assert linked.exit_code == 0, linked.output
    session.expire_all()
    account = session.execute(select(Account)).scalar_one()
    assert session.execute(select(AccountShop.shop_id)
                           .where(AccountShop.account_id == account.id)).scalar() == shop.id

    version = account.session_version
    reset = runner.invoke(args=["accounts", "set-password", "ops@example.com",
                                "--password", "a brand new passphrase"])
    assert reset.exit_code == 0, reset.output
    session.expire_all()
    assert session.get(Account, account.id).session_version == version + 1
