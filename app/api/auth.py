"""Who is calling `/api`, and for which store.

Two credentials, both `Authorization: Bearer ...`:
- a Shopify session token as App Bridge sends it: HS256 JWT signed with the app secret,
  `aud` = app key, `dest` = https://<shop>.myshopify.com, `iss` = <dest>/admin, checked for
  exp/nbf with 10 s leeway (PyJWT does the JWT work);
- a per-store API key from `flask --app app shops api-key STORE`.
Without an Authorization header, a signed-in standalone-panel session (app/accounts) may use
the store selected in it, if the account is linked to that store; mutating requests then also
need the CSRF token in `X-CSRFToken`.
The credential's store is the tenant for the whole request (`g.shop`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import jwt
from flask import current_app, g, jsonify, request, session
from sqlalchemy import select

from app.db import db
from app.shops.models import Shop
from app.shops.service import API_KEY_PREFIX, shop_for_api_key
from connectors.shopify.oauth import valid_shop_domain

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 10


class AuthError(Exception):
    def __init__(self, message: str, *, retry_session: bool = False, status: int = 401) -> None:
        super().__init__(message)
        self.retry_session = retry_session
        self.status = status


def _shop_domain_from_dest(dest: object) -> str:
    """The store a session token's `dest` names (`https://<shop>.myshopify.com`), or AuthError.

    The token is signed, but its claims are still input: `dest` may be any JSON value, an
    unparseable URL (`http://[::1`), or a host no Shopify store can have (NUL bytes, which
    PostgreSQL refuses in a query; underscores; 300 characters). Each is a 401 with a reason.
    """
    bad = AuthError("invalid session token: dest is not a Shopify store URL "
                    "(https://<shop>.myshopify.com)", retry_session=True)
    if not isinstance(dest, str):
        raise bad
    try:
        parts = urlsplit(dest)
        host, port = parts.hostname, parts.port
    except ValueError:  # unbalanced IPv6 brackets, a port that is not a number, ...
        raise bad from None
    domain = valid_shop_domain(host) if parts.scheme == "https" and port is None else None
    if domain is None:
        raise bad
    return domain


def shop_from_session_token(token: str) -> Shop:
    config = current_app.config
    secrets = [config["SHOPIFY_API_SECRET"], config.get("SHOPIFY_API_SECRET_OLD")]
    claims = None
    last_error: Exception | None = None
    for secret in filter(None, secrets):
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], audience=config["SHOPIFY_API_KEY"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "nbf", "iss", "dest", "aud"]},
            )
            break
        except jwt.InvalidSignatureError as exc:
            last_error = exc
            continue
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid session token: {exc}", retry_session=True) from exc
    if claims is None:
        raise AuthError(f"invalid session token: {last_error}", retry_session=True)
    host = _shop_domain_from_dest(claims["dest"])
    if claims["iss"] != f"{claims['dest']}/admin":
        raise AuthError("invalid session token: iss does not match dest", retry_session=True)
    shop = db.session.execute(
        select(Shop).where(Shop.platform == "shopify", Shop.domain == host)
    ).scalar_one_or_none()
    if shop is None or shop.status != "active":
        raise AuthError(f"store {host} is not connected to Sticky")
    return shop


def shop_from_panel_session() -> Shop:
    """A signed-in standalone-panel account using the store selected in its session. Safe
    methods only, unless the request carries the session's CSRF token (X-CSRFToken)."""
    from app.accounts import csrf
    from app.accounts.service import SESSION_SHOP, current_account, session_shop

    if current_account() is None:
        raise AuthError("send `Authorization: Bearer <session token or API key>`, "
                        "or sign in at /admin/login")
    shop = session_shop()
    if shop is None:
        message = ("choose a store at /admin/stores first" if session.get(SESSION_SHOP) is None
                   else "your account is not linked to the selected store")
        raise AuthError(message, status=403)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()  # CSRFError: 400 with the reason, through the app's JSON error handler
    return shop


def authenticate() -> Shop:
    header = request.headers.get("Authorization", "")
    if not header.strip() and session:
        return shop_from_panel_session()
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise AuthError("send `Authorization: Bearer <session token or API key>`")
    if credential.startswith(API_KEY_PREFIX):
        shop = shop_for_api_key(db.session, credential)
        if shop is None:
            raise AuthError("unknown or revoked API key")
        if shop.status == "uninstalled":
            # Its data stays until Shopify's shop/redact; nobody reads it meanwhile.
            raise AuthError(f"store {shop.domain} has uninstalled Sticky", status=403)
        return shop
    return shop_from_session_token(credential)


def require_shop():
    """`before_request` hook: sets `g.shop` or answers 401."""
    if request.endpoint == "api.openapi":
        return None
    try:
        g.shop = authenticate()
    except AuthError as exc:
        log.info("api.auth_failed", extra={"reason": str(exc)})
        response = jsonify({"status": exc.status, "message": str(exc)})
        response.status_code = exc.status
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="sticky"'
        if exc.retry_session:
            # App Bridge fetches a fresh session token and retries on this header.
            response.headers["X-Shopify-Retry-Invalid-Session-Request"] = "1"
        return response
    return None
