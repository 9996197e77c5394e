"""The panel's frame, for both doors: who gets in, what every page carries, and what a bad
request gets back (a readable page, never JSON or a 500)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.accounts.models import AccountShop
from app.accounts.service import create_account
from app.crypto import encrypt
from app.db import utcnow
from app.shops.models import Shop
from tests.conftest import SHOPIFY_KEY
from tests.test_accounts import EMAIL, PASSWORD, csrf_from, log_in
from tests.test_shopify_tokens import session_token

SHOP = "sticky-test.myshopify.com"
APP_BRIDGE = '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>'


@pytest.fixture
def embedded_shop(session, shop) -> Shop:
    """The test store with a usable expiring offline token: opening the panel calls nobody."""
    shop.access_token_encrypted = encrypt("shpat_live")
    shop.refresh_token_encrypted = encrypt("shprt_live")
    shop.access_token_expires_at = utcnow() + timedelta(hours=1)
    shop.refresh_token_expires_at = utcnow() + timedelta(days=90)
    session.commit()
    return shop


@pytest.fixture
def signed_in(client, session, shop):
    """A standalone account linked to the test store, signed in with the store open."""
    account = create_account(session, EMAIL, PASSWORD)
    session.add(AccountShop(account_id=account.id, shop_id=shop.id))
    session.commit()
    log_in(client)
    token = csrf_from(client, "/admin/stores")
    response = client.post("/admin/stores/select", data={"shop_id": shop.id, "csrf_token": token})
    assert response.headers["Location"] == "/admin"
    return client


def embedded_url(path: str, **extra: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"shop": SHOP, "host": "aG9zdA", "embedded": "1",
                                              **extra}.items())
    return f"{path}?{query}"


def test_the_app_address_opens_the_panel_keeping_shopifys_query(client):
    response = client.get("/?shop=x.myshopify.com&host=aG9zdA")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin?shop=x.myshopify.com&host=aG9zdA"


def test_a_page_of_the_standalone_door_needs_a_signed_in_account(client):
    response = client.get("/admin/customers")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/login"


def test_a_signed_in_account_without_a_store_is_asked_to_choose_one(client, session):
    create_account(session, EMAIL, PASSWORD)
    session.commit()
    log_in(client)
    response = client.get("/admin/settings")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/stores"


def test_standalone_pages_carry_the_frame_and_no_shopify_script(signed_in):
    page = signed_in.get("/admin").get_data(as_text=True)
    # the stylesheet is local, the nav lists the built sections, the store is named
    assert '<link rel="stylesheet" href="/static/sticky/panel.css">' in page
    for label, href in (("Dashboard", "/admin"), ("Customers", "/admin/customers"),
                        ("Settings", "/admin/settings")):
        assert f'href="{href}"' in page and label in page
    assert 'aria-current="page"' in page
    # nothing is loaded from another host
    assert "cdn.shopify.com" not in page and "shopify-api-key" not in page
    assert "https://" not in page.split("<body", 1)[0]


def test_embedded_pages_load_app_bridge_first_and_declare_the_nav(client, embedded_shop):
    response = client.get(embedded_url("/admin/customers", id_token=session_token(SHOP)))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    head = page.split("</head>", 1)[0]
    # the API key meta tag, then App Bridge as the first script of <head>
    assert f'<meta name="shopify-api-key" content="{SHOPIFY_KEY}">' in head
    assert head.index(APP_BRIDGE) == head.index("<script")
    assert head.index("shopify-api-key") < head.index(APP_BRIDGE)
    # the app's navigation for the admin's left nav; links keep the embedded parameters
    nav = page.split("<ui-nav-menu>", 1)[1].split("</ui-nav-menu>", 1)[0]
    assert 'rel="home"' in nav
    assert f"/admin/settings?shop={SHOP}" in nav and "embedded=1" in nav and "host=aG9zdA" in nav
    assert "id_token" not in nav  # tokens are fetched fresh, never copied into links
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{SHOP} https://admin.shopify.com")


def test_an_embedded_post_without_a_session_token_is_refused_with_a_page(client, embedded_shop):
    response = client.post(embedded_url("/admin/settings"), data={"sender_name": "x"})
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert "session token" in response.get_data(as_text=True)
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_an_embedded_post_with_another_stores_token_is_refused(client, embedded_shop, other_shop):
    token = session_token("other-store.myshopify.com")
    response = client.post(embedded_url("/admin/settings"), data={"id_token": token})
    assert response.status_code == 401
    assert "another store" in response.get_data(as_text=True)


def test_a_standalone_post_without_the_csrf_token_is_refused_with_a_page(signed_in):
    response = signed_in.post("/admin/settings", data={"sender_name": "x"})
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "This form has expired" in response.get_data(as_text=True)


def test_a_nul_character_in_a_panel_url_is_a_400_page(signed_in):
    response = signed_in.get("/admin/customers?q=a%00b")
    assert response.status_code == 400
    assert "invalid character" in response.get_data(as_text=True)


def test_an_unknown_panel_address_is_a_page_not_json(signed_in):
    response = signed_in.get("/admin/nowhere")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "This page does not exist" in response.get_data(as_text=True)


def test_an_unexpected_error_on_a_panel_page_shows_a_reference_that_is_logged(
        signed_in, app, monkeypatch, caplog):
    import app.panel.dashboard as dashboard

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(dashboard, "render_template", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        response = signed_in.get("/admin")
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and "Something went wrong on our side" in page
    [record] = [r for r in caplog.records if r.getMessage() == "panel.error"]
    assert record.reference in page
    assert "boom" not in page


def test_the_charting_library_is_served_from_the_installed_package(client):
    response = client.get("/assets/plotly.min.js?v=1")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert b"plotly" in response.data[:2000].lower()
    assert response.cache_control.max_age == 365 * 24 * 3600


def test_another_stores_session_cannot_open_this_store(client, session, shop, other_shop):
    # given an account linked only to the other store, with that store open
    account = create_account(session, EMAIL, PASSWORD)
    session.add(AccountShop(account_id=account.id, shop_id=other_shop.id))
    session.commit()
    log_in(client)
    client.post("/admin/stores/select", data={"shop_id": other_shop.id,
                                              "csrf_token": csrf_from(client, "/admin/stores")})
    # then the panel shows the other store, and choosing this one is refused
    assert 'data-shop="other-store.myshopify.com"' in client.get("/admin").get_data(as_text=True)
    refused = client.post("/admin/stores/select", data={
        "shop_id": shop.id, "csrf_token": csrf_from(client, "/admin/stores")})
    assert refused.status_code == 403
    assert 'data-shop="other-store.myshopify.com"' in client.get("/admin").get_data(as_text=True)
