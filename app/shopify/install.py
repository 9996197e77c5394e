"""Installing Sticky on a Shopify store.

Two routes lead here, and both end in `complete_install`:
- managed installation (the usual one): Shopify installs the app with the scopes and webhook
  subscriptions of `shopify.app.toml` and opens `/admin` with a session token, which
  `app.panel` exchanges for an expiring offline token;
- the authorization-code grant, `GET /auth/shopify/install` → Shopify's consent screen →
  `GET /auth/shopify/callback`, for installs from a link outside the Shopify admin.

Webhook subscriptions are declared in `shopify.app.toml` (app-specific subscriptions), so
Shopify registers them for every store; nothing is registered per shop here.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, current_app, redirect, render_template, request
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.flows.builtins import install as install_builtin_flows
from app.queue import get_queue, get_redis
from app.shops.models import Shop
from app.shops.tokens import apply_grant
from connectors.shopify import oauth
from connectors.shopify.oauth import OAuthError, OfflineToken

log = logging.getLogger(__name__)

bp = Blueprint("shopify_install", __name__)

BACKFILL_JOB = "jobs.sync.run_backfill"
STATE_COOKIE = "sticky_shopify_oauth_state"


def _state_key(state: str) -> str:
    return f"sticky:shopify-oauth-state:{state}"


def complete_install(session: Session, shop_domain: str, grant: OfflineToken) -> tuple[Shop, bool]:
    """Store a granted offline token for the store, creating or reactivating its row.

    A reinstall finds the same row (same data) and makes it active again. Returns the shop and
    whether it just became active (new install or reinstall), in which case the caller starts
    the first backfill after committing. Does not commit.
    """
    shop = session.execute(
        select(Shop).where(Shop.platform == "shopify", Shop.domain == shop_domain)
    ).scalar_one_or_none()
    activated = shop is None or shop.status != "active"
    if shop is None:
        shop = Shop(platform="shopify", domain=shop_domain, name=shop_domain.split(".")[0])
        session.add(shop)
    apply_grant(shop, grant)
    session.flush()
    install_builtin_flows(session, shop.id)  # drafts; nothing runs until the merchant says so
    # Shopify grants tokens only to an installed app, so the app is installed as of now: an
    # app/uninstalled received earlier but not yet handled must not undo this (see
    # app.compliance.service.uninstall).
    shop.installed_at = utcnow()
    if activated:
        shop.status = "active"
        shop.uninstalled_at = None
    session.flush()
    log.info("shopify.install.token_stored",
             extra={"shop": shop_domain, "activated": activated})
    return shop, activated


def start_first_backfill(shop_id: int) -> bool:
    """Queue the store's history import. Call after the install is committed."""
    from rq import Retry

    from app.sync.backfill import queue_backfill

    shop = db.session.get(Shop, shop_id)
    if shop is not None:
        queue_backfill(db.session, shop)  # commits; the panel shows "queued" from now on
    try:
        get_queue("default").enqueue(BACKFILL_JOB, shop_id, job_timeout=24 * 3600,
                                     retry=Retry(max=3, interval=[60, 300, 900]),
                                     result_ttl=86400)
        return True
    except RedisError:
        # The install stands; `flask --app app backfill SHOP` starts it by hand.
        log.warning("shopify.install.backfill_enqueue_failed", extra={"shop_id": shop_id},
                    exc_info=True)
        return False


def auth_error(exc: OAuthError):
    """A clear HTML page for a rejected install or sign-in (never a 500): what happened, and
    a reference and time (UTC) that support can find in the log line written here."""
    reference = secrets.token_hex(4)
    log.warning("shopify.oauth.%s", exc.code, extra={"reason": str(exc), "reference": reference})
    status = exc.status if exc.status in (400, 401, 403, 502) else 400
    titles = {400: "This install link is not valid", 401: "Sticky could not verify this request",
              403: "Not allowed", 502: "Shopify did not answer as expected"}
    response = current_app.make_response((render_template(
        "errors/auth_error.html", title=titles[status], message=str(exc), status=status,
        reference=reference, occurred_at=utcnow().replace(microsecond=0),
    ), status))
    if exc.retry_session:
        response.headers["X-Shopify-Retry-Invalid-Session-Request"] = "1"
    return response


def _signed_params() -> list[tuple[str, str | list[str]]]:
    return [(key, values if key.endswith("[]") else values[0])
            for key, values in request.args.lists()]


def _verified_shop(config) -> str:
    """The shop of a link Shopify signed (HMAC, timestamp, domain); OAuthError otherwise."""
    return oauth.check_signed_query(
        _signed_params(),
        secrets=(config["SHOPIFY_API_SECRET"], config.get("SHOPIFY_API_SECRET_OLD")),
        max_age_seconds=config["SHOPIFY_OAUTH_MAX_AGE_SECONDS"])


@bp.get("/auth/shopify/install")
def install():
    """Verify Shopify's signed install link, then send the merchant to the consent screen."""
    config = current_app.config
    try:
        shop = _verified_shop(config)
    except OAuthError as exc:
        return auth_error(exc)
    state = secrets.token_urlsafe(32)
    ttl = config["SHOPIFY_OAUTH_STATE_TTL_SECONDS"]
    try:
        get_redis().set(_state_key(state), shop, ex=ttl)
    except RedisError:
        log.error("shopify.oauth.state_store_failed", exc_info=True)
        return auth_error(OAuthError("Sticky cannot start the install right now; try again in a "
                                     "minute", status=502, code="state_store_failed"))
    url = oauth.consent_url(shop, api_key=config["SHOPIFY_API_KEY"],
                            scopes=config["SHOPIFY_SCOPES"],
                            redirect_uri=f"{config['APP_URL']}/auth/shopify/callback",
                            state=state)
    response = redirect(url)
    # Binds the state to this browser as well: a callback link replayed in another browser fails.
    response.set_cookie(STATE_COOKIE, state, max_age=ttl, httponly=True, samesite="Lax",
                        secure=config["APP_URL"].startswith("https://"),
                        path="/auth/shopify")
    log.info("shopify.oauth.consent_redirect", extra={"shop": shop})
    return response


def _take_state(state: str) -> str | None:
    """The shop the state was issued for, consuming it (single use), or None."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.get(_state_key(state))
    pipe.delete(_state_key(state))
    value, deleted = pipe.execute()
    if not deleted or value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@bp.get("/auth/shopify/callback")
def callback():
    """Check the callback (HMAC, timestamp, shop, single-use state), get the token, store it."""
    config = current_app.config
    try:
        shop = _verified_shop(config)
        state = request.args.get("state", "")
        code = request.args.get("code", "")
        if not state or not code:
            raise OAuthError("the callback must carry `code` and `state`", code="missing_code")
        try:
            issued_for = _take_state(state)
        except RedisError:
            raise OAuthError("Sticky cannot finish the install right now; try again",
                             status=502, code="state_store_failed") from None
        cookie = request.cookies.get(STATE_COOKIE, "")
        if issued_for is None:
            raise OAuthError("this install link was already used or has expired; start the "
                             "install again from your Shopify admin", status=401,
                             code="bad_state")
        if issued_for != shop or not secrets.compare_digest(cookie.encode(), state.encode()):
            raise OAuthError("this install link was started for another store or in another "
                             "browser; start the install again", status=401, code="bad_state")
        grant = oauth.exchange_code(shop, code, api_key=config["SHOPIFY_API_KEY"],
                                    api_secret=config["SHOPIFY_API_SECRET"])
    except OAuthError as exc:
        return auth_error(exc)
    missing = set(filter(None, config["SHOPIFY_SCOPES"].split(","))) - _granted(grant.scope)
    if missing:
        return auth_error(OAuthError(
            f"the store did not grant the access Sticky needs ({', '.join(sorted(missing))}); "
            "install again and approve every permission", status=400, code="missing_scopes"))
    session = db.session
    installed, activated = complete_install(session, shop, grant)
    session.commit()
    if activated:
        start_first_backfill(installed.id)
    response = redirect(f"https://{shop}/admin/apps/{config['SHOPIFY_API_KEY']}")
    response.delete_cookie(STATE_COOKIE, path="/auth/shopify")
    return response


def _granted(scope: str) -> set[str]:
    granted = {s.strip() for s in scope.split(",") if s.strip()}
    # A write scope implies its read scope.
    return granted | {"read_" + s[len("write_"):] for s in granted if s.startswith("write_")}
