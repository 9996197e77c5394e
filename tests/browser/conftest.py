"""Browser tests: Debian's Chromium, driven by Playwright's sync API, against the test app served
live (tests/browser/support.py). Nothing a page requests may leave the machine.

Fixtures:
- `live_server`: the app on 127.0.0.1 at a free port; commit before navigating (`goto` does).
- `browser`: headless Chromium from STICKY_CHROMIUM (default /usr/bin/chromium). Skipped, with
  the reason, only when Chromium is missing or will not start; with STICKY_BROWSER_REQUIRED=1
  (.ci/run sets it when Chromium is installed) that is a failure instead.
- `page`: a fresh context whose every request is routed (`network`); at the end the test fails
  if a page tried to reach another origin or the server answered 5xx. Screenshots go to
  artifacts/screenshots/<test>/: one per page opened with `goto`/`follow`, any `shot(page,
  name)`, and `at-failure.png` when the test fails.
- `embedded_page`: `page` for the Shopify door: App Bridge is the stand-in
  (app_bridge_standin.js) minting session tokens for `shop`, whose token needs no exchange.
- `signed_in_page`: `page` signed in on the standalone door on `shop`, seeded with
  `seed_small_store` (its summary is `seeded_store`).
"""

from __future__ import annotations

import os
import shutil

import httpx
import pytest

from connectors.shopify import oauth
from tests.browser.support import (
    LiveServer,
    Network,
    commit_test_writes,
    current_test_name,
    open_context,
    screenshot_dir,
    seed_small_store,
    shot,
    sign_in_browser,
    with_expiring_token,
)
from tests.loyalty.referral_support import shopify_discounts  # noqa: F401 - a fixture
from tests.test_shopify_tokens import session_token

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _unavailable(reason: str):
    if os.environ.get("STICKY_BROWSER_REQUIRED") == "1":
        pytest.fail(f"{reason} (STICKY_BROWSER_REQUIRED=1)", pytrace=False)
    pytest.skip(reason)


# Package scope: one server and one Chromium for all browser tests, both gone before the rest
# of the suite runs. (Playwright's sync API keeps an asyncio loop marked as running in this
# thread while it is started, which would break any later test calling asyncio.run().)
@pytest.fixture(scope="package")
def live_server(app):
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    configured = os.environ.get("STICKY_CHROMIUM")
    path = configured or "/usr/bin/chromium"
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        found = None if configured else shutil.which("chromium")
        if found is None:
            _unavailable(f"Chromium not found at {path} (install Debian's `chromium`, or set "
                         "STICKY_CHROMIUM to a Chromium executable)")
        path = found
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=path, headless=True,
                                              args=CHROMIUM_ARGS)
    except PlaywrightError as exc:
        playwright.stop()
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        _unavailable(f"Chromium at {path} could not be launched: {first_line}")
    yield chromium
    chromium.close()
    playwright.stop()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets the page fixture know the test failed, to keep a screenshot of that moment.
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def network(live_server) -> Network:
    return Network(origin=live_server.url)


@pytest.fixture
def page(browser, live_server, network, request):
    live_server.forget()
    shutil.rmtree(screenshot_dir(current_test_name()), ignore_errors=True)
    context = open_context(browser, live_server, network)
    page = context.new_page()
    yield page
    if request.node.stash.get(_FAILED, False) and not page.is_closed():
        try:
            shot(page, "at-failure")
        except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
            pass
    context.close()
    commit_test_writes()
    problems = []
    if network.outside:
        problems.append(f"pages tried to reach the outside: {network.outside}")
    for failure in live_server.failures():
        problems.append(f"the server answered {failure.status} to {failure.method} "
                        f"{failure.path}?{failure.query}\n{failure.error or ''}")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def token_exchange_calls(monkeypatch) -> list[str]:
    """Token exchange and refresh calls to Shopify (none expected): recorded and refused."""
    calls: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(401, json={"error": "invalid_client"})

    monkeypatch.setattr(oauth, "HTTPX_TRANSPORT", httpx.MockTransport(refuse))
    return calls


@pytest.fixture
def embedded_page(page, network, shop, token_exchange_calls):
    """A page for the embedded door: App Bridge is the stand-in, which mints a fresh session
    token for `shop` on every `shopify.idToken()`."""
    with_expiring_token(shop)
    network.app_bridge = "standin"
    page.context.expose_binding("__standinMintIdToken",
                                lambda source: session_token(shop.domain))
    yield page
    assert token_exchange_calls == []


@pytest.fixture
def seeded_store(shop):
    return seed_small_store(shop)


@pytest.fixture
def signed_in_page(page, shop, seeded_store):
    sign_in_browser(page, shop)
    return page
