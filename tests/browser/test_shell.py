"""The panel's shell in a real browser (Chromium): the standalone door opened by a sign-in link,
every entry of the left nav, the stylesheet, the embedded door through App Bridge (the
stand-in) with session tokens on fetch, and a page that renders without App Bridge. No page
may reach anything but the live server (the `page` fixture checks it after every test)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import jwt
from flask import current_app, url_for
from playwright.sync_api import expect

from app.panel.assets import NAV
from app.sync.models import QUEUED, BackfillRun
from tests.browser.support import (
    APP_BRIDGE_URL,
    embedded_path,
    follow,
    goto,
    open_context,
    screenshot_dir,
    shot,
    sign_in_link_for,
)
from tests.conftest import SHOPIFY_KEY, SHOPIFY_SECRET
from tests.test_shopify_tokens import session_token

POLARIS_CANVAS = "rgb(241, 241, 241)"  # --p-bg in static/sticky/panel.css
EXPIRED_TITLE = "This sign-in link has expired or was already used"


def _body_background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_a_sign_in_link_opens_the_dashboard_and_every_nav_entry_renders(
        page, shop, seeded_store, network, live_server):
    # given a merchant's single-use sign-in link to a store with customers and orders
    link = sign_in_link_for(shop)
    with current_app.test_request_context():
        nav_paths = {item.label: url_for(item.endpoint) for item in NAV}

    # when they open it
    goto(page, link, "landed")

    # then they land on the store's dashboard, signed in
    assert urlparse(page.url).path == "/admin"
    expect(page.locator("h1.Page-title")).to_contain_text("Dashboard")
    expect(page.locator(".Frame-store")).to_contain_text("merchant@example.com")
    expect(page.locator(".Frame-store .store-name")).to_have_text(shop.name)
    # and the panel's stylesheet is applied (the Polaris canvas behind the cards)
    assert _body_background(page) == POLARIS_CANVAS
    # and the left nav lists every section, each of which opens its page
    expect(page.locator(".Frame-nav a")).to_have_text([item.label for item in NAV])
    for item in NAV:
        follow(page, page.locator(".Frame-nav a", has_text=item.label), item.label.lower())
        assert urlparse(page.url).path == nav_paths[item.label]
        expect(page.locator("h1.Page-title")).to_contain_text(item.label)
        expect(page).to_have_title(re.compile(rf"^{re.escape(item.label)} · "))
        expect(page.locator(".Frame-nav a[aria-current=page]")).to_have_text(item.label)
        assert _body_background(page) == POLARIS_CANVAS

    # and everything came from the live server: its stylesheet and script, nothing else
    assert network.outside == []
    assert live_server.served("/static/sticky/panel.css")[0].status == 200
    assert live_server.served("/static/sticky/panel.js")[0].status == 200
    # and a screenshot of each page is kept for people to look at
    kept = sorted(path.name for path in screenshot_dir().glob("*.png"))
    assert kept == sorted(["landed.png"] + [f"{item.label.lower()}.png" for item in NAV])


def test_a_used_sign_in_link_shows_the_expired_page_to_anyone(page, shop, browser, network,
                                                               live_server):
    # given a sign-in link that was opened once
    link = sign_in_link_for(shop)
    goto(page, link, "first-open")
    assert urlparse(page.url).path == "/admin"

    # when someone else opens it again, in a browser with no session
    stranger = open_context(browser, live_server, network)
    try:
        other = stranger.new_page()
        response = other.goto(link)
        shot(other, "used-link")

        # then it says the link is spent and what to do, and signs nobody in
        assert response is not None and response.status == 410
        expect(other.locator("h1")).to_have_text(EXPIRED_TITLE)
        expect(other.locator("main")).to_contain_text("accounts sign-in-link")
        expect(other.locator("[role=alert]")).to_contain_text("works once, within 15 minutes")
        other.goto("/admin")
        assert urlparse(other.url).path == "/admin/login"
    finally:
        stranger.close()
    # and the first browser is still signed in
    goto(page, "/admin/customers", "still-signed-in")
    expect(page.locator("h1.Page-title")).to_contain_text("Customers")


def test_embedded_without_an_id_token_gets_one_from_app_bridge_and_fetches_with_it(
        embedded_page, shop, session, network, live_server):
    page = embedded_page
    # given a store whose history import is under way (the dashboard polls its progress)
    session.add(BackfillRun(shop_id=shop.id, platform="shopify", status=QUEUED,
                            processed=1234, total=5000))
    session.commit()

    # when Shopify opens the app without an id_token
    goto(page, embedded_path(shop), "dashboard")

    # then the server sent it to the patch page, where App Bridge fetched a session token and
    # reloaded the app with it
    documents = [(r.path, r.status, "id_token" in parse_qs(r.query))
                 for r in live_server.requests if r.path.startswith("/admin")]
    assert documents[:3] == [("/admin", 302, False), ("/admin/patch-id-token", 200, False),
                             ("/admin", 200, True)]
    assert parse_qs(urlparse(page.url).query)["shop"] == [shop.domain]
    # and the embedded dashboard rendered, with App Bridge given the app's client id
    expect(page.locator("h1.Page-title")).to_contain_text("Dashboard")
    assert page.evaluate("document.body.className") == "embedded"
    assert page.evaluate("window.shopify.config.apiKey") == SHOPIFY_KEY
    assert _body_background(page) == POLARIS_CANVAS

    # and the history banner's progress came from /api/backfill, fetched with a session token
    expect(page.locator("#backfill-text")).to_have_text(
        "1,234 of 5,000 records imported so far.")
    shot(page, "dashboard-with-progress")
    fetches = page.evaluate("window.__standin.fetches")
    assert fetches and fetches[0]["url"] == "/api/backfill"
    assert fetches[0]["status"] == 200
    [first, *_] = live_server.served("/api/backfill")
    assert first.status == 200
    scheme, _, token = first.authorization.partition(" ")
    assert scheme == "Bearer" and first.authorization == fetches[0]["authorization"]
    claims = jwt.decode(token, SHOPIFY_SECRET, algorithms=["HS256"], audience=SHOPIFY_KEY)
    assert claims["dest"] == f"https://{shop.domain}"
    assert page.evaluate("window.__standin.errors") == []
    # and the only request for another origin was App Bridge's script, served by the stand-in
    assert network.app_bridge_requests and set(network.app_bridge_requests) == {"standin"}
    assert network.outside == []


def test_an_embedded_page_renders_its_content_when_app_bridge_cannot_load(
        embedded_page, shop, network):
    page = embedded_page
    # given App Bridge's script cannot be fetched (blocked, offline, CDN down)
    network.app_bridge = "blocked"

    # when Shopify opens the app with a valid session token
    goto(page, embedded_path(shop, id_token=session_token(shop.domain)), "dashboard")

    # then the page is there all the same, styled
    expect(page.locator("h1.Page-title")).to_contain_text("Dashboard")
    assert page.evaluate("typeof window.shopify") == "undefined"
    assert _body_background(page) == POLARIS_CANVAS
    # and App Bridge was the only thing asked of another origin, and it was refused
    assert network.app_bridge_requests == ["blocked"]
    assert network.outside == []
    assert page.locator(f'script[src="{APP_BRIDGE_URL}"]').count() == 1


def test_a_signed_in_browser_reads_the_seeded_store_through_the_api(signed_in_page,
                                                                     seeded_store):
    # given a browser signed in on a store seeded through the webhooks and the worker
    # when the page asks the API for the store's customers with its session cookie
    answer = signed_in_page.evaluate(
        "fetch('/api/customers?per_page=50').then(r => r.json())")

    # then it gets exactly the seeded customers and their orders
    assert answer["total"] == len(seeded_store.emails)
    assert sorted(c["email"] for c in answer["customers"]) == sorted(seeded_store.emails)
    assert sum(c["orders_count"] for c in answer["customers"]) == seeded_store.orders
