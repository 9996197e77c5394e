"""Describing and confirming a WooCommerce store: URL rules, the authorize URL, a key check."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from connectors.http import ClientError, HttpError, NotFound, TransportError, Unauthorized
from connectors.woocommerce.client import WooClient

log = logging.getLogger(__name__)

_HOST = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class StoreUrlError(ValueError):
    """A store URL Sticky cannot use; the message says why, for the merchant."""


class KeysRejected(Exception):
    """The store did not accept the keys, or could not be reached to check them.

    `retryable` is True when the store was unreachable or failing (try again later), False
    when it answered and refused.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class StoreUrl:
    base_url: str  # scheme://host[:port][/path], no trailing slash: the REST base
    domain: str    # host[:port][/path]: the Shop's domain

    @property
    def is_https(self) -> bool:
        return self.base_url.startswith("https://")


def parse_store_url(value: str | None) -> StoreUrl:
    """Validate a merchant-typed store URL: http(s), a host, no credentials, no query.

    A missing scheme means https. WordPress may live in a sub-folder, so a path is kept.
    """
    text = (value or "").strip()
    if not text:
        raise StoreUrlError("enter your store's address, e.g. https://shop.example.com")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise StoreUrlError(f"{value!r} is not a valid web address") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise StoreUrlError("the store address must start with https:// (or http://)")
    if parts.username is not None or parts.password is not None:
        raise StoreUrlError("the store address must not contain a user name or password")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or not _HOST.match(host):
        raise StoreUrlError(f"{value!r} has no valid host name")
    if parts.query:
        raise StoreUrlError("the store address must not contain a query (the part after ?)")
    path = re.sub(r"/+", "/", parts.path).rstrip("/")
    for suffix in ("/wp-admin", "/wp-json"):
        if path.endswith(suffix):  # a merchant pasting an admin or API URL
            path = path[: -len(suffix)]
    if any(c.isspace() for c in path):
        raise StoreUrlError("the store address must not contain spaces")
    netloc = host if port is None else f"{host}:{port}"
    return StoreUrl(base_url=f"{parts.scheme.lower()}://{netloc}{path}",
                    domain=f"{netloc}{path}")


def authorize_url(store: StoreUrl, *, token: str, app_url: str) -> str:
    """The store's `/wc-auth/v1/authorize` page asking for read_write keys for Sticky."""
    query = urlencode({
        "app_name": "Sticky",
        "scope": "read_write",
        "user_id": token,
        "return_url": f"{app_url}/woocommerce/connected?{urlencode({'token': token})}",
        "callback_url": f"{app_url}/woocommerce/callback",
    })
    return f"{store.base_url}/wc-auth/v1/authorize?{query}"


@dataclass
class StoreInfo:
    currency: str
    name: str | None = None
    timezone: str | None = None


def confirm_keys(client: WooClient) -> StoreInfo:
    """One real API call with the keys: the store's currency (system_status, else settings).

    Raises KeysRejected with a merchant-readable reason.
    """
    try:
        try:
            status = client.get("system_status")
            settings = (status or {}).get("settings") or {}
            environment = (status or {}).get("environment") or {}
            currency = settings.get("currency")
            if currency:
                return StoreInfo(currency=str(currency).upper(),
                                 timezone=environment.get("default_timezone") or None)
        except (NotFound, Unauthorized) as exc:
            if isinstance(exc, Unauthorized) and exc.status == 401:
                raise
            # system_status needs manage_woocommerce; the settings group is a lighter ask.
        option = client.get("settings/general/woocommerce_currency")
        currency = (option or {}).get("value")
        if not currency:
            raise KeysRejected("the store did not report its currency")
        return StoreInfo(currency=str(currency).upper())
    except Unauthorized as exc:
        raise KeysRejected(
            f"the store refused the keys ({exc.status}): check they exist in WooCommerce → "
            "Settings → Advanced → REST API with Read/Write permission"
        ) from exc
    except NotFound as exc:
        raise KeysRejected(
            "the store has no WooCommerce REST API at /wp-json/wc/v3 (is WooCommerce active "
            "and are permalinks enabled?)"
        ) from exc
    except TransportError as exc:
        raise KeysRejected(f"the store could not be reached: {exc}", retryable=True) from exc
    except ClientError as exc:
        raise KeysRejected(f"the store answered {exc.status} to the key check") from exc
    except HttpError as exc:
        raise KeysRejected(f"the store failed the key check: {exc}", retryable=True) from exc
    except ValueError as exc:  # not JSON: a page that is not the WooCommerce API
        raise KeysRejected("the store's answer was not WooCommerce REST API JSON") from exc
