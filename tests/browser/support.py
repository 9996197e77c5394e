"""What browser tests share besides fixtures: the live server, the offline network guard,
screenshots, signing a browser in, and a small store seeded through the real ingest path.

A page test reads like this (fixtures from tests/browser/conftest.py):

    def test_customers_lists_the_store(signed_in_page, shop):
        page = signed_in_page                      # signed in, on a store seeded by
        goto(page, "/admin/customers")             # seed_small_store; screenshot taken
        expect(page.locator("h1")).to_contain_text("Customers")
        shot(page, "after-search")                 # any other state worth keeping
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import threading
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app, g, has_app_context
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server

from app.accounts.links import create_sign_in_link, sign_in_url
from app.accounts.models import Account
from app.accounts.service import create_account, link_account_to_shop, normalize_email
from app.crypto import encrypt
from app.db import db, utcnow
from app.shops.models import Shop
from tests.conftest import post_webhook, run_worker
from tests.factories import BASE_TIME, customer_payload, order_payload

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
APP_BRIDGE_STANDIN = Path(__file__).with_name("app_bridge_standin.js")
MERCHANT_EMAIL = "merchant@example.com"


# -- the live server --------------------------------------------------------------------------


@dataclass
class ServedRequest:
    """One request the live server answered, as the test may want to check it."""

    method: str
    path: str
    query: str
    authorization: str | None
    status: int | None = None
    error: str | None = None  # the traceback, when the app raised


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass  # ServedRequest records what a test needs; errors are still logged


class LiveServer:
    """The test app served on 127.0.0.1 at a free port, by werkzeug in a background thread
    (a thread per request). It shares the tests' app, so it uses the same database and Redis
    and sees every row a test committed."""

    def __init__(self, app) -> None:
        self.requests: list[ServedRequest] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._recording(app), threaded=True,
                                   request_handler=_QuietHandler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="live-server", daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def served(self, path: str) -> list[ServedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def failures(self) -> list[ServedRequest]:
        with self._lock:
            return [r for r in self.requests if r.error or (r.status or 0) >= 500]

    def forget(self) -> None:
        with self._lock:
            self.requests.clear()

    def _recording(self, app):
        def wsgi(environ, start_response):
            record = ServedRequest(
                method=environ["REQUEST_METHOD"], path=environ.get("PATH_INFO", ""),
                query=environ.get("QUERY_STRING", ""),
                authorization=environ.get("HTTP_AUTHORIZATION"))
            with self._lock:
                self.requests.append(record)

            def recording_start_response(status, headers, exc_info=None):
                record.status = int(status.split(" ", 1)[0])
                return start_response(status, headers, exc_info)

            try:
                return app(environ, recording_start_response)
            except BaseException:
                record.error = traceback.format_exc()
                raise

        return wsgi


# -- the network: nothing leaves the machine --------------------------------------------------


@dataclass
class Network:
    """Routes every request of a browser context. Requests to the live server go through;
    App Bridge's script is served by the stand-in (embedded pages), or refused; anything
    else is refused and recorded in `outside`, which the page fixture requires to be empty."""

    origin: str
    app_bridge: str = "none"  # "standin", "blocked", or "none" (then it counts as outside)
    outside: list[str] = field(default_factory=list)
    app_bridge_requests: list[str] = field(default_factory=list)

    def handle(self, route) -> None:
        url = route.request.url
        if url == self.origin or url.startswith(self.origin + "/"):
            route.continue_()
        elif url == APP_BRIDGE_URL and self.app_bridge != "none":
            self.app_bridge_requests.append(self.app_bridge)
            if self.app_bridge == "standin":
                route.fulfill(path=APP_BRIDGE_STANDIN,
                              content_type="text/javascript; charset=utf-8")
            else:
                route.abort("blockedbyclient")
        else:
            self.outside.append(url)
            route.abort("blockedbyclient")


def open_context(browser, server: LiveServer, network: Network):
    """A browser context on the live server (relative URLs work) whose every request goes
    through `network`; English (US) and UTC, so numbers and dates read the same anywhere."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 800},
                                  locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    context.route("**/*", network.handle)
    return context


# -- screenshots ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:120] or "page"


def current_test_name() -> str:
    """The running test's name (with its parameters), from pytest's PYTEST_CURRENT_TEST."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "outside-a-test")
    return _slug(current.rsplit("::", 1)[-1].rsplit(" (", 1)[0])


def screenshot_dir(test_name: str | None = None) -> Path:
    return SCREENSHOTS / (test_name or current_test_name())


def shot(page, name: str) -> Path:
    """Save a full-page PNG of `page` as artifacts/screenshots/<test name>/<name>.png."""
    path = screenshot_dir() / f"{_slug(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def commit_test_writes() -> None:
    """End the test's own transaction so the live server sees what it wrote (and, on SQLite,
    so the test holds no write lock while a page loads)."""
    if has_app_context() and "db_session" in g:
        db.session.commit()


def goto(page, path: str, name: str | None = None, *, expect_status: int | None = 200):
    """Open `path` on the live server (after committing the test's writes), check the final
    answer's status, and keep a screenshot named `name` (default: from the path)."""
    commit_test_writes()
    response = page.goto(path)
    if expect_status is not None:
        assert response is not None and response.status == expect_status, (
            f"{path} answered {response and response.status}, not {expect_status}")
    shot(page, name or path.split("?", 1)[0].strip("/") or "root")
    return response


def follow(page, locator, name: str):
    """Click a link that opens another page, wait for it to load, and keep a screenshot."""
    with page.expect_navigation():
        locator.click()
    page.wait_for_load_state("load")
    shot(page, name)


# -- signing a browser in ---------------------------------------------------------------------


def sign_in_link_for(shop: Shop, email: str = MERCHANT_EMAIL) -> str:
    """A fresh single-use sign-in link (a path) for an account linked to `shop`, created if
    missing with a password nobody knows: the path `flask --app app demo` prints."""
    commit_test_writes()
    with db.new_session() as s, s.begin():
        account = s.execute(select(Account).where(
            Account.email_normalized == normalize_email(email))).scalar_one_or_none()
        if account is None:
            account = create_account(s, email, secrets.token_urlsafe(24))
        link_account_to_shop(s, account.id, shop.id)
        return sign_in_url("", create_sign_in_link(s, account.id, shop.id).token)


def sign_in_browser(page, shop: Shop, email: str = MERCHANT_EMAIL) -> None:
    """Sign `page`'s browser in to the standalone panel on `shop` by opening a sign-in link;
    it lands on the dashboard."""
    goto(page, sign_in_link_for(shop, email), "signed-in")
    assert page.url.endswith("/admin"), page.url


# -- embedded (Shopify admin) -----------------------------------------------------------------


def host_param(shop: Shop) -> str:
    """The `host` query parameter Shopify adds: base64 of the admin's address for the store."""
    store = shop.domain.removesuffix(".myshopify.com")
    return base64.b64encode(f"admin.shopify.com/store/{store}".encode()).decode().rstrip("=")


def embedded_path(shop: Shop, path: str = "/admin", **extra: str) -> str:
    from urllib.parse import urlencode

    query = {"shop": shop.domain, "host": host_param(shop), "embedded": "1", **extra}
    return f"{path}?{urlencode(query)}"


def with_expiring_token(shop: Shop) -> None:
    """Give the store the credentials of a completed managed install (an expiring offline
    token and its refresh token), so opening the app needs no token exchange with Shopify."""
    commit_test_writes()
    with db.new_session() as s, s.begin():
        row = s.get(Shop, shop.id)
        row.access_token_encrypted = encrypt("shpat_browser_test")
        row.access_token_expires_at = utcnow() + timedelta(hours=1)
        row.refresh_token_encrypted = encrypt("shprt_browser_test")
        row.refresh_token_expires_at = utcnow() + timedelta(days=90)


# -- a small store, through the real ingest path ----------------------------------------------


@dataclass(frozen=True)
class SeededStore:
    emails: list[str]  # customers, newest first
    orders: int
    revenue: Decimal


# (first name, last name, order totals): a repeat buyer, a returning one, one-time buyers
# and a sign-up who has not bought yet.
SMALL_STORE = [
    ("Ada", "Lovelace", ["120.00", "80.50", "42.00"]),
    ("Grace", "Hopper", ["64.00", "210.00"]),
    ("Alan", "Turing", ["35.25"]),
    ("Katherine", "Johnson", ["99.99"]),
    ("Edsger", "Dijkstra", []),
]


def _minutes_since_base(moment: datetime) -> float:
    return (moment - BASE_TIME).total_seconds() / 60


def seed_small_store(shop: Shop, *, now: datetime | None = None) -> SeededStore:
    """Five customers and seven paid orders over the last 60 days, posted as signed Shopify
    webhooks and applied by a real worker: the path live data takes."""
    app = current_app._get_current_object()
    client = app.test_client()
    now = now or datetime.now(UTC)
    emails: list[str] = []
    orders = 0
    revenue = Decimal("0")
    for index, (first, last, totals) in enumerate(SMALL_STORE):
        email = f"{first.lower()}.{last.lower()}@example.com"
        emails.append(email)
        joined = _minutes_since_base(now - timedelta(days=60 - index * 10))
        customer = customer_payload(email=email, first_name=first, last_name=last,
                                    updated=joined)
        assert post_webhook(client, "customers/create", customer,
                            shop_domain=shop.domain).status_code == 200
        for number, total in enumerate(totals):
            placed = joined + (number + 1) * 7 * 24 * 60  # weekly after joining
            embedded = {"id": customer["id"], "email": email, "first_name": first,
                        "last_name": last}
            assert post_webhook(client, "orders/create", order_payload(
                customer=embedded, email=email, total=total, placed=placed, updated=placed),
                shop_domain=shop.domain).status_code == 200
            orders += 1
            revenue += Decimal(total)
    run_worker(app)
    emails.reverse()
    return SeededStore(emails=emails, orders=orders, revenue=revenue)
