"""Shopify app authentication: install-link HMAC, consent URL, and every way to get a token.

Who does what:
- Shopify's own `shopifyapp` package (httpx) does what it covers: verifying an App Home
  request's session token (`verify_app_home_req`), OAuth token exchange of a session token for
  an offline token (`token_exchange`, with `expiring=1`) and refreshing an expiring token
  (`refresh_access_token`).
- This module does what `shopifyapp` does not: the query-string HMAC of install and callback
  links, the consent URL, the authorization-code exchange, and migrating a non-expiring offline
  token to an expiring one (both plain POSTs through `connectors.http`, Sticky's HTTP client).

Nothing here touches the database: callers get an `OfflineToken` and store it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import shopify_app

from connectors.http import ClientError, HttpClient, HttpError

log = logging.getLogger(__name__)

# Exactly `name.myshopify.com`: no scheme, port, path or other host.
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"  # noqa: S105

# Tests replace this with an `httpx.MockTransport`: the network edge of shopifyapp's calls.
HTTPX_TRANSPORT: httpx.BaseTransport | None = None


class OAuthError(Exception):
    """A rejected install, callback, session token or token grant. `status` is the HTTP answer
    Sticky should give (400 bad request, 401 not authenticated, 502 Shopify refused/failed)."""

    def __init__(self, message: str, *, status: int = 400, code: str = "oauth_error",
                 retry_session: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_session = retry_session


@dataclass(frozen=True)
class OfflineToken:
    """An offline Admin API token as Shopify granted it. Expiry fields are None when the token
    does not expire (a legacy or custom-app token)."""

    access_token: str
    scope: str
    expires_at: datetime | None
    refresh_token: str | None
    refresh_token_expires_at: datetime | None

    def __repr__(self) -> str:  # never show the secrets in logs or tracebacks
        return f"OfflineToken(scope={self.scope!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class SessionToken:
    """A verified App Bridge session token: the JWT and its claims, and the shop it is for."""

    token: str
    claims: dict[str, Any]
    shop: str


def app_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """shopifyapp's AppConfig from Flask settings."""
    return {"client_id": config["SHOPIFY_API_KEY"],
            "client_secret": config["SHOPIFY_API_SECRET"],
            "old_client_secret": config.get("SHOPIFY_API_SECRET_OLD") or None}


def _httpx_client() -> httpx.Client:
    return httpx.Client(timeout=30.0, transport=HTTPX_TRANSPORT)


def valid_shop_domain(value: str | None) -> str | None:
    """The shop domain if `value` is exactly `name.myshopify.com` (case-insensitive), else None."""
    if not value:
        return None
    domain = value.strip().lower()
    return domain if SHOP_DOMAIN.match(domain) else None


# --- query-string HMAC (install link and OAuth callback) ---------------------------------------

def _escape(value: str, *, key: bool) -> str:
    value = value.replace("%", "%25").replace("&", "%26")
    return value.replace("=", "%3D") if key else value


def _classic_message(params: Sequence[tuple[str, str | list[str]]]) -> str:
    """The message as Shopify's Python/Ruby session libraries build it: raw `k=v` pairs sorted,
    `&`-joined, with `%`, `&` (and `=` in keys) escaped; `ids[]` lists as a JSON array."""
    merged: dict[str, Any] = {}
    for key, value in params:
        if key in ("hmac", "signature"):
            continue
        if key.endswith("[]"):
            merged.setdefault(key[:-2], [])
            merged[key[:-2]].extend(value if isinstance(value, list) else [value])
        else:
            merged[key] = value
    parts = []
    for key, value in merged.items():
        text = json.dumps([str(v) for v in value]) if isinstance(value, list) else str(value)
        parts.append(f"{_escape(key, key=True)}={_escape(text, key=False)}")
    return "&".join(sorted(parts))


def _form_message(params: Sequence[tuple[str, str | list[str]]]) -> str:
    """The message as Shopify's JS/Ruby API libraries build it: form-encoded, sorted by key."""
    pairs: list[tuple[str, str]] = []
    for key, value in params:
        if key in ("hmac", "signature"):
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    return urlencode(sorted(pairs, key=lambda kv: kv[0]))


def query_hmac(secret: str, params: Sequence[tuple[str, str | list[str]]]) -> str:
    """hex HMAC-SHA256 of the classic message (what Shopify documents for install links)."""
    return hmac.new(secret.encode(), _classic_message(params).encode(), hashlib.sha256).hexdigest()


def verify_query_hmac(params: Sequence[tuple[str, str | list[str]]],
                      secrets: Iterable[str | None]) -> bool:
    """True when the `hmac` parameter signs the other parameters under any configured secret.

    Shopify's own libraries disagree on how to encode values that contain special characters
    (raw, or form-encoded); both forms are accepted, each compared in constant time."""
    given = next((v for k, v in params if k == "hmac" and isinstance(v, str)), "")
    if not given:
        return False
    given_bytes = given.strip().lower().encode()
    messages = {_classic_message(params), _form_message(params)}
    ok = False
    for secret in filter(None, secrets):
        for message in messages:
            digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
            ok |= hmac.compare_digest(digest.encode(), given_bytes)
    return ok


def check_signed_query(params: Sequence[tuple[str, str | list[str]]], *,
                       secrets: Iterable[str | None], max_age_seconds: int,
                       now: float | None = None) -> str:
    """Validate an install or callback link; returns the shop domain or raises OAuthError."""
    values = {k: v for k, v in params if isinstance(v, str)}
    shop = valid_shop_domain(values.get("shop"))
    if shop is None:
        raise OAuthError("the `shop` parameter must be a store domain like name.myshopify.com",
                         status=400, code="bad_shop")
    if not verify_query_hmac(params, secrets):
        raise OAuthError("the link's signature (hmac) is missing or wrong; open the app from "
                         "your Shopify admin again", status=401, code="bad_hmac")
    try:
        timestamp = int(values.get("timestamp", ""))
    except ValueError:
        raise OAuthError("the link has no valid `timestamp`", status=400,
                         code="bad_timestamp") from None
    now = time.time() if now is None else now
    if abs(now - timestamp) > max_age_seconds:
        raise OAuthError("the link has expired (its timestamp is too old or in the future); "
                         "open the app from your Shopify admin again", status=401,
                         code="stale_timestamp")
    return shop


def consent_url(shop: str, *, api_key: str, scopes: str, redirect_uri: str, state: str) -> str:
    """Where the merchant approves the app (authorization-code grant, offline access)."""
    query = urlencode({"client_id": api_key, "scope": scopes, "redirect_uri": redirect_uri,
                       "state": state})
    return f"https://{shop}/admin/oauth/authorize?{query}"


# --- token grants --------------------------------------------------------------------------------

def _parse_grant(data: Mapping[str, Any]) -> OfflineToken:
    now = datetime.now(UTC)
    token = data.get("access_token")
    if not token or not isinstance(token, str):
        raise OAuthError("Shopify's answer carries no access_token", status=502,
                         code="bad_grant")
    expires_in = data.get("expires_in")
    refresh_in = data.get("refresh_token_expires_in")
    return OfflineToken(
        access_token=token,
        scope=str(data.get("scope") or ""),
        expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
        refresh_token=data.get("refresh_token") or None,
        refresh_token_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
    )


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _post_token_endpoint(shop: str, body: dict[str, Any], http: HttpClient | None,
                         what: str) -> OfflineToken:
    client = http or HttpClient(retries=2)
    try:
        response = client.post(f"https://{shop}/admin/oauth/access_token", json=body,
                               headers={"Accept": "application/json"})
        data = response.json()
    except ClientError as exc:
        log.warning("shopify.oauth.grant_refused", extra={"shop": shop, "grant": what,
                                                          "status": exc.status})
        raise OAuthError(f"Shopify refused the {what} ({exc.status}); install the app again "
                         "from your Shopify admin", status=401, code="grant_refused") from exc
    except (HttpError, ValueError) as exc:
        log.warning("shopify.oauth.grant_failed", extra={"shop": shop, "grant": what})
        raise OAuthError(f"could not reach Shopify for the {what}; try again in a minute",
                         status=502, code="grant_failed") from exc
    finally:
        if http is None:
            client.close()
    return _parse_grant(data)


def exchange_code(shop: str, code: str, *, api_key: str, api_secret: str,
                  http: HttpClient | None = None) -> OfflineToken:
    """Authorization-code grant: trade the callback's `code` for an expiring offline token."""
    body = {"client_id": api_key, "client_secret": api_secret, "code": code, "expiring": 1}
    return _post_token_endpoint(shop, body, http, "authorization code exchange")


def migrate_offline_token(shop: str, non_expiring_token: str, *, api_key: str, api_secret: str,
                          http: HttpClient | None = None) -> OfflineToken:
    """Trade a non-expiring offline token for an expiring one (Shopify's documented migration:
    token exchange with the old token as subject). The old token stops working."""
    body = {"client_id": api_key, "client_secret": api_secret,
            "grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": non_expiring_token,
            "subject_token_type": OFFLINE_TOKEN_TYPE,
            "requested_token_type": OFFLINE_TOKEN_TYPE, "expiring": 1}
    return _post_token_endpoint(shop, body, http, "token migration")


def _from_shopifyapp(result: Any, what: str, shop: str) -> OfflineToken:
    if not result.ok or result.access_token is None:
        code = result.log.code
        log.warning(f"shopify.oauth.{what.replace(' ', '_')}_failed",
                    extra={"shop": shop, "code": code})
        if code in ("invalid_subject_token",):
            raise OAuthError("the session token was not accepted by Shopify; reload the app",
                             status=401, code=code, retry_session=True)
        if code in ("invalid_grant", "refresh_token_expired"):
            raise OAuthError("the stored refresh token is no longer valid; the merchant must "
                             "open Sticky in the Shopify admin to reconnect", status=401,
                             code=code)
        raise OAuthError(f"Shopify did not grant a token ({what}: {code}); try again",
                         status=502, code=code)
    token = result.access_token
    return OfflineToken(access_token=token.token, scope=token.scope or "",
                        expires_at=_parse_iso(token.expires),
                        refresh_token=token.refresh_token or None,
                        refresh_token_expires_at=_parse_iso(token.refresh_token_expires))


def exchange_session_token(session_token: SessionToken, config: Mapping[str, Any]) -> OfflineToken:
    """Managed install: trade a verified session token for an expiring offline token
    (shopifyapp `token_exchange`, `expiring=1`)."""
    id_token = shopify_app.IdTokenDetails(exchangeable=True, token=session_token.token,
                                          claims=session_token.claims)
    with _httpx_client() as client:
        result = shopify_app.token_exchange("offline", app_config(config), id_token=id_token,
                                            expiring=True, http_client=client)
    return _from_shopifyapp(result, "token exchange", session_token.shop)


def refresh_offline_token(shop: str, refresh_token: str, refresh_token_expires_at: datetime | None,
                          config: Mapping[str, Any]) -> OfflineToken:
    """Use the refresh token now (shopifyapp `refresh_access_token`). Shopify rotates it:
    the returned pair replaces the stored one."""
    access_token = {
        "shop": shop.removesuffix(".myshopify.com"),
        "refresh_token": refresh_token,
        # Sticky decides when to refresh (5 minutes ahead); an empty `expires` makes
        # shopifyapp refresh now instead of applying its own 60-second rule.
        "expires": "",
        "refresh_token_expires": (refresh_token_expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                                  if refresh_token_expires_at else ""),
        "access_mode": "offline",
    }
    with _httpx_client() as client:
        result = shopify_app.refresh_access_token(access_token, app_config(config),
                                                  http_client=client)
    return _from_shopifyapp(result, "token refresh", shop)


# --- session tokens ----------------------------------------------------------------------------

def verify_app_home_request(*, method: str, url: str, headers: Mapping[str, str],
                            config: Mapping[str, Any], patch_path: str):
    """shopifyapp's App Home check of a request (id_token in the query for documents, Bearer
    header for fetches). Returns (SessionToken | None, shopifyapp result)."""
    request_input = {"method": method, "url": url, "headers": dict(headers), "body": ""}
    result = shopify_app.verify_app_home_req(request_input, app_config(config), patch_path)
    if not result.ok or result.id_token is None:
        return None, result
    claims = dict(result.id_token.claims)
    token = result.id_token.token
    return SessionToken(token=token, claims=claims, shop=_strict_shop_from_claims(claims)), result


def _strict_shop_from_claims(claims: Mapping[str, Any]) -> str:
    """shopifyapp checks signature, expiry and audience; Sticky also insists the token names a
    Shopify store and was issued by that store's admin, and that it carries an expiry."""
    dest = str(claims.get("dest") or "")
    parsed = urlparse(dest)
    shop = valid_shop_domain(parsed.hostname) if parsed.scheme == "https" else None
    if shop is None:
        raise OAuthError("invalid session token: dest is not a Shopify store", status=401,
                         code="bad_dest", retry_session=True)
    if claims.get("iss") != f"{dest}/admin":
        raise OAuthError("invalid session token: iss does not match dest", status=401,
                         code="bad_iss", retry_session=True)
    if "exp" not in claims:
        raise OAuthError("invalid session token: no exp", status=401, code="no_exp",
                         retry_session=True)
    return shop
