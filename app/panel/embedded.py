"""The Shopify door of the panel: session tokens on document requests, the "patch id token"
page, and the framing policy of every page.

Shopify opens the app URL as `/admin?shop=&host=&embedded=1&id_token=<session token>`. The
session token is verified with Shopify's `shopifyapp` (`verify_app_home_req`: signature under
the current or previous secret, expiry with 10 s leeway, audience), plus Sticky's own checks
(dest is a *.myshopify.com store, iss = dest + /admin). If the store has no usable token yet
(managed installation, a reinstall, a non-expiring legacy token, a dead refresh token) the
session token is exchanged for an expiring offline token right here. A document request with
a missing or stale id_token goes to the "patch id token" page, where App Bridge fetches a
fresh one and reloads.

Every HTML response gets `Content-Security-Policy: frame-ancestors https://<shop>
https://admin.shopify.com` (or `'none'` when no store is known), as Shopify requires of
embedded apps, so no other site can frame Sticky's pages.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, urlencode

import shopify_app
from flask import current_app, g, redirect, request
from sqlalchemy import select

from app.db import db, utcnow
from app.panel import bp
from app.shopify.install import auth_error, complete_install, start_first_backfill
from app.shops.models import Shop
from app.shops.outbound import outbound_allowed
from app.shops.tokens import is_non_expiring
from connectors.shopify import oauth
from connectors.shopify.oauth import OAuthError

log = logging.getLogger(__name__)

PATCH_ID_TOKEN_PATH = "/admin/patch-id-token"  # noqa: S105 - a URL path
LOGIN_PATH = "/admin/login"
CSP = "Content-Security-Policy"


def _query_without(*names: str) -> str:
    return urlencode([(k, v) for k, values in request.args.lists() if k not in names
                      for v in values])


def _bounce_to_patch_page(shop: str):
    """Send a document request without a usable id_token to the page where App Bridge gets one."""
    query = _query_without("id_token")
    reload_path = request.path + (f"?{query}" if query else "")
    params = urlencode({"shop": shop, "host": request.args.get("host", "")})
    return redirect(f"{PATCH_ID_TOKEN_PATH}?{params}&shopify-reload={quote(reload_path, safe='')}")


def _needs_new_token(shop: Shop | None) -> bool:
    if shop is not None and not outbound_allowed(shop):
        return False  # the local demo store: its panel opens without calling Shopify
    if shop is None or shop.status != "active" or not shop.access_token_encrypted:
        return True
    if is_non_expiring(shop):
        return True  # migrate: opening the app is Shopify's documented moment to do it
    expiry = shop.refresh_token_expires_at
    return shop.access_token_expires_at is not None and (
        not shop.refresh_token_encrypted or (expiry is not None and expiry <= utcnow()))


def shop_for_document_request():
    """The store of an embedded document request (`?shop=&host=&embedded=1&id_token=`), or the
    response to send instead: the patch page when the token is missing or stale, an error page
    when it is invalid. A store opened for the first time (managed installation), or whose
    credentials need renewing, gets its offline token here, by token exchange."""
    config = current_app.config
    shop_param = oauth.valid_shop_domain(request.args.get("shop"))
    if not request.args.get("id_token"):
        if shop_param:
            return _bounce_to_patch_page(shop_param)
        return redirect(LOGIN_PATH)
    try:
        try:
            session_token, result = oauth.verify_app_home_request(
                method="GET", url=request.url, headers={}, config=config,
                patch_path=PATCH_ID_TOKEN_PATH)
        except (ValueError, TypeError, AttributeError):
            # shopifyapp parses a signed token's `dest` with urlparse, which raises on a
            # value like "http://[::1" or a number: the token is unusable, not a 500.
            log.info("shopify.panel.unparseable_dest", exc_info=True)
            raise OAuthError("invalid session token: dest is not a Shopify store URL",
                             status=401, code="bad_dest", retry_session=True) from None
        if session_token is None:
            if result.response.status == 302 and shop_param:
                # Stale or unverifiable token: App Bridge will fetch a fresh one.
                log.info("shopify.panel.stale_id_token", extra={"shop": shop_param,
                                                               "code": result.log.code})
                return _bounce_to_patch_page(shop_param)
            raise OAuthError(f"invalid session token ({result.log.code})", status=401,
                             code=result.log.code)
        if shop_param and shop_param != session_token.shop:
            raise OAuthError("the session token is for another store", status=401,
                             code="shop_mismatch")
    except OAuthError as exc:
        return auth_error(exc)
    g.session_shop = session_token.shop

    session = db.session
    shop = session.execute(select(Shop).where(
        Shop.platform == "shopify", Shop.domain == session_token.shop)).scalar_one_or_none()
    if _needs_new_token(shop):
        try:
            grant = oauth.exchange_session_token(session_token, config)
        except OAuthError as exc:
            return auth_error(exc)
        shop, activated = complete_install(session, session_token.shop, grant)
        session.commit()
        if activated:
            start_first_backfill(shop.id)
    assert shop is not None
    return shop


@bp.get(PATCH_ID_TOKEN_PATH)
def patch_id_token():
    """A bare page that loads App Bridge, which fetches a session token and reloads the app."""
    shop = oauth.valid_shop_domain(request.args.get("shop"))
    reload_to = request.args.get("shopify-reload", "")
    if shop is None or not reload_to.startswith("/") or reload_to.startswith("//"):
        return auth_error(OAuthError("open Sticky from Apps in your Shopify admin", status=400,
                                     code="bad_patch_request"))
    result = shopify_app.app_home_patch_id_token(
        {"method": "GET", "url": request.url, "headers": {}, "body": ""},
        oauth.app_config(current_app.config))
    if not result.ok:
        return auth_error(OAuthError("open Sticky from Apps in your Shopify admin", status=400,
                                     code=result.log.code))
    response = current_app.make_response((result.response.body, 200))
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    if "Link" in result.response.headers:
        response.headers["Link"] = result.response.headers["Link"]
    return response


def _shop_for_framing() -> str | None:
    """The store whose admin may frame this response: from a verified session token, the
    authenticated store, or the `shop` query parameter (validated)."""
    verified = g.get("session_shop")
    if verified:
        return verified
    current = g.get("shop")
    if isinstance(current, Shop) and current.platform == "shopify":
        return current.domain
    return oauth.valid_shop_domain(request.args.get("shop"))


@bp.after_app_request
def frame_ancestors(response):
    if response.mimetype != "text/html":
        return response
    existing = response.headers.get(CSP, "")
    if "frame-ancestors" in existing:
        return response
    shop = _shop_for_framing()
    policy = (f"frame-ancestors https://{shop} https://admin.shopify.com" if shop
              else "frame-ancestors 'none'")
    response.headers[CSP] = f"{existing.rstrip('; ')}; {policy}" if existing else policy
    return response
