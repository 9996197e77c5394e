"""Single-use sign-in links (`/admin/sign-in/<token>`): they sign in once, within 15 minutes,
select their store, survive no reuse or race, say clearly when they are spent, and the CLI
mints them."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, update

from app.accounts.links import (
    LINK_LIFETIME,
    consume_sign_in_link,
    create_sign_in_link,
    sign_in_url,
)
from app.accounts.models import AccountShop, SignInLink
from app.accounts.service import (
    SESSION_ACCOUNT,
    SESSION_SHOP,
    create_account,
    link_account_to_shop,
)
from app.db import db, utcnow
from app.shops.service import connect_shopify_by_token

EXPIRED = "This sign-in link has expired or was already used"
PASSWORD = "correct horse battery"


@pytest.fixture
def account(session, shop):
    account = create_account(session, "merchant@example.com", PASSWORD)
    link_account_to_shop(session, account.id, shop.id)
    session.commit()
    return account


def new_link(account, shop=None) -> str:
    token = create_sign_in_link(db.session, account.id, shop.id if shop else None).token
    db.session.commit()
    return token


def open_link(client, token: str):
    return client.get(sign_in_url("", token))


def signed_in(client) -> tuple[int | None, int | None]:
    with client.session_transaction() as cookie:
        return cookie.get(SESSION_ACCOUNT), cookie.get(SESSION_SHOP)


# -- opening a link ---------------------------------------------------------------------------


def test_a_link_signs_in_selects_its_store_and_opens_the_dashboard(client, account, shop):
    # given a fresh link for the merchant's store
    token = new_link(account, shop)

    # when it is opened
    response = open_link(client, token)

    # then the browser is signed in on that store and sent to the dashboard
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin"
    assert signed_in(client) == (account.id, shop.id)
    dashboard = client.get("/admin")
    assert dashboard.status_code == 200
    assert "Dashboard" in dashboard.get_data(as_text=True)
    # and the token stays out of caches and the next page's Referer
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_only_the_hash_of_the_token_is_stored_and_it_lives_15_minutes(account, shop, session):
    issued = create_sign_in_link(session, account.id, shop.id)
    session.commit()

    row = session.execute(select(SignInLink)).scalar_one()
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert all(issued.token not in str(getattr(row, column.key))
               for column in SignInLink.__table__.columns)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", issued.token)  # 256 random bits
    assert row.expires_at - row.created_at == LINK_LIFETIME == timedelta(minutes=15)
    assert row.used_at is None
    assert issued.url("https://sticky.example/") == (
        f"https://sticky.example/admin/sign-in/{issued.token}")


def test_a_link_works_once_even_from_another_browser(app, account, shop, session):
    # given a link opened once
    token = new_link(account, shop)
    first, second = app.test_client(), app.test_client()
    assert open_link(first, token).status_code == 302

    # when another browser opens it again
    again = open_link(second, token)

    # then it is refused with a page that says why and what to do, and nobody is signed in
    assert again.status_code == 410
    page = again.get_data(as_text=True)
    assert EXPIRED in page
    assert "sign-in-link EMAIL" in page and "works once, within 15 minutes" in page
    assert signed_in(second) == (None, None)
    assert second.get("/admin").headers["Location"] == "/admin/login"
    # and the first browser stays signed in
    assert first.get("/admin").status_code == 200
    assert session.execute(select(SignInLink.used_at)).scalar_one() is not None


def test_an_expired_link_is_refused(client, account, shop, session):
    # given a link made more than 15 minutes ago
    token = new_link(account, shop)
    session.execute(update(SignInLink).values(
        created_at=utcnow() - timedelta(minutes=16), expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()

    # when it is opened
    response = open_link(client, token)

    # then it is refused like a used one, and the link stays unused
    assert response.status_code == 410
    assert EXPIRED in response.get_data(as_text=True)
    assert signed_in(client) == (None, None)
    assert session.execute(select(SignInLink.used_at)).scalar_one() is None


@pytest.mark.parametrize("token", [
    "x" * 43,  # the right shape, never issued
    "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v",
])
def test_an_unknown_link_gets_the_same_page_as_a_used_one(client, account, token):
    response = open_link(client, token)
    assert response.status_code == 410
    assert EXPIRED in response.get_data(as_text=True)


@pytest.mark.parametrize("token", ["short", "x" * 44, "x" * 5000, "a" * 42 + ".",
                                   "%00" + "a" * 40, "%E2%98%83" * 15])
def test_a_malformed_link_is_a_400_page_never_a_500(client, token):
    response = open_link(client, token)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This sign-in link is incomplete" in page
    assert "Copy the whole link" in page and "sign-in-link EMAIL" in page


def test_a_link_whose_store_was_unlinked_signs_in_to_the_stores_page(client, account, shop,
                                                                     session):
    # given a link to a store the account has since lost access to
    token = new_link(account, shop)
    session.execute(delete(AccountShop))
    session.commit()

    # when it is opened
    response = open_link(client, token)

    # then the account is signed in, but no store is selected
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/stores"
    assert signed_in(client) == (account.id, None)


def test_a_link_replaces_whoever_was_signed_in(client, account, shop, session):
    # given a browser signed in as another merchant
    other = create_account(session, "other@example.com", PASSWORD)
    session.commit()
    assert open_link(client, new_link(other)).headers["Location"] == "/admin/stores"
    assert signed_in(client) == (other.id, None)

    # when this account's link is opened there
    open_link(client, new_link(account, shop))

    # then the session is this account's, on its store
    assert signed_in(client) == (account.id, shop.id)


def test_two_simultaneous_opens_of_one_link_sign_in_once(account, shop, session):
    # given a link, and a first request that has consumed it but not yet committed
    token = new_link(account, shop)
    outcome: dict[str, object] = {}
    with db.new_session() as first, db.new_session() as second:
        assert consume_sign_in_link(first, token) is not None

        # when a second request tries it meanwhile
        def second_open() -> None:
            outcome["second"] = consume_sign_in_link(second, token)
            second.commit()

        racer = threading.Thread(target=second_open)
        racer.start()
        racer.join(0.5)
        waited = racer.is_alive()
        first.commit()
        racer.join(30)

    # then it waited for the first one, and then found the link spent
    assert waited
    assert outcome == {"second": None}


def test_opening_links_is_rate_limited_per_connection(client, account):
    for _ in range(10):
        assert open_link(client, "y" * 43).status_code == 410
    limited = open_link(client, "y" * 43)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


def test_old_spent_links_are_swept_when_a_new_one_is_made(account, shop, session):
    # given a link that expired more than a week ago
    new_link(account, shop)
    session.execute(update(SignInLink).values(expires_at=utcnow() - timedelta(days=8)))
    session.commit()
    # when another is made
    token = new_link(account, shop)
    # then only the new one is kept
    rows = session.execute(select(SignInLink.token_hash)).scalars().all()
    assert rows == [hashlib.sha256(token.encode()).hexdigest()]


# -- the CLI ----------------------------------------------------------------------------------


def _printed_token(output: str, base: str = "https://sticky.test") -> str:
    match = re.search(re.escape(base) + r"/admin/sign-in/([A-Za-z0-9_-]{43})$", output, re.M)
    assert match, output
    return match.group(1)


def test_cli_prints_a_link_from_app_url_that_opens_the_accounts_store(app, client, account,
                                                                      shop):
    result = app.test_cli_runner().invoke(
        args=["accounts", "sign-in-link", "Merchant@Example.com"])

    assert result.exit_code == 0, result.output
    assert "works once, within 15 minutes" in result.output
    token = _printed_token(result.output)  # APP_URL is https://sticky.test in the tests
    assert open_link(client, token).headers["Location"] == "/admin"
    assert signed_in(client) == (account.id, shop.id)


def test_cli_opens_the_store_asked_for_and_refuses_one_the_account_cannot_open(
        app, client, account, shop, other_shop, session):
    runner = app.test_cli_runner()
    # a store the account is not linked to is refused, with the command that links it
    refused = runner.invoke(args=["accounts", "sign-in-link", "merchant@example.com",
                                  "--store", other_shop.domain])
    assert refused.exit_code == 2
    assert f"cannot open {other_shop.domain}" in refused.output
    assert "accounts link merchant@example.com" in refused.output
    assert session.execute(select(SignInLink)).first() is None

    # once linked, the account has two stores: without --store the link opens the store list
    link_account_to_shop(session, account.id, other_shop.id)
    session.commit()
    either = runner.invoke(args=["accounts", "sign-in-link", "merchant@example.com"])
    assert open_link(client, _printed_token(either.output)).headers["Location"] == (
        "/admin/stores")
    chosen = runner.invoke(args=["accounts", "sign-in-link", "merchant@example.com",
                                 "--store", str(other_shop.id)])
    assert open_link(client, _printed_token(chosen.output)).headers["Location"] == "/admin"
    assert signed_in(client) == (account.id, other_shop.id)


def test_cli_refuses_an_unknown_account(app, ctx):
    connect_shopify_by_token(db.session, "lonely.myshopify.com", "shpat_x")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["accounts", "sign-in-link", "who@example.com"])
    assert result.exit_code == 2
    assert "no account for who@example.com" in result.output
