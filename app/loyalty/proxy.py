"""Shopify app proxy requests: the signature, the timestamp window and who the shopper is.

Shopify forwards `https://<store>/apps/sticky/...` to `APP_URL/proxy/...` and adds `shop`,
`logged_in_customer_id` (empty for a guest), `path_prefix`, `timestamp` and `signature` to
the query. As Shopify's "Authenticate app proxies" documents it, `signature` is the hex
HMAC-SHA256, keyed with the app's API secret, of the other query parameters: decoded, each
written `key=value` with the values of a repeated key joined by ",", sorted, and concatenated
with no separator. Every parameter is signed, including ones Shopify may add later, so the
message is built from whatever arrives. Only the query is signed (a form body is not).

The shopper is only ever `logged_in_customer_id`: a signed value that Shopify sets from the
storefront session. Nothing else in the request names a customer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

MAX_CLOCK_SKEW_SECONDS = 300  # a signed link older (or newer) than this is a replay
DEFAULT_PATH_PREFIX = "/apps/sticky"
_PATH_PREFIX = re.compile(r"^/(apps|a|community|tools)/[A-Za-z0-9_-]{1,30}$")
_SHOP = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class ProxyRefused(Exception):
    """Not a request Shopify signed for now: `status` and a short `reason` to answer with."""

    def __init__(self, reason: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ProxyRequest:
    shop_domain: str
    customer_id: str | None  # the platform's customer id; None for a guest
    path_prefix: str          # where the store serves the proxy, e.g. "/apps/sticky"
    timestamp: int


def proxy_message(params: Iterable[tuple[str, list[str]]]) -> str:
    """The signed message: `key=v1,v2` per key except `signature`, sorted, concatenated."""
    parts = [f"{key}={','.join(values)}" for key, values in params if key != "signature"]
    return "".join(sorted(parts))


def proxy_signature(secret: str, params: Iterable[tuple[str, list[str]]]) -> str:
    return hmac.new(secret.encode(), proxy_message(params).encode(),
                    hashlib.sha256).hexdigest()


def verify_proxy_signature(params: list[tuple[str, list[str]]],
                           secrets: Iterable[str | None]) -> bool:
    """True when `signature` signs the other parameters under one of `secrets` (the current
    API secret and, during a rotation, the previous one). Every secret is tried, each
    compared in constant time, so timing does not tell which matched."""
    given = [v for key, values in params if key == "signature" for v in values]
    if len(given) != 1 or not given[0]:
        return False
    given_bytes = given[0].strip().lower().encode()
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(proxy_signature(secret, params).encode(), given_bytes)
    return ok


def check_proxy_request(params: list[tuple[str, list[str]]], *, secrets: Iterable[str | None],
                        now: float | None = None,
                        max_skew: int = MAX_CLOCK_SKEW_SECONDS) -> ProxyRequest:
    """The verified facts of a proxied request, or ProxyRefused (a missing or wrong
    signature, a timestamp outside the window, a shop that is not a myshopify domain)."""
    if not verify_proxy_signature(params, secrets):
        raise ProxyRefused("This page must be opened through the store: its signature is "
                           "missing or wrong.")
    values = {key: vals[-1] if vals else "" for key, vals in params}
    try:
        timestamp = int(values.get("timestamp", ""))
    except ValueError:
        raise ProxyRefused("This request has no valid timestamp.") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > max_skew:
        raise ProxyRefused("This link has expired. Reload the page from the store.")
    shop = values.get("shop", "").strip().lower()
    if not _SHOP.match(shop):
        raise ProxyRefused("This request names no store.", status=400)
    customer = values.get("logged_in_customer_id", "").strip()
    prefix = values.get("path_prefix", "")
    return ProxyRequest(shop_domain=shop, customer_id=customer or None,
                        path_prefix=prefix if _PATH_PREFIX.match(prefix) else DEFAULT_PATH_PREFIX,
                        timestamp=timestamp)
