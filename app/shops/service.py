"""Connecting stores and issuing per-store API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import encrypt
from app.db import utcnow
from app.routing import parse_id
from app.shops.models import ApiKey, Shop
from connectors.shopify.oauth import valid_shop_domain

API_KEY_PREFIX = "sticky_"

# Shopify's answer to this names the store and says the token works; it costs 1 point.
SHOP_DETAILS_QUERY = "query StickyShopDetails { shop { name currencyCode ianaTimezone } }"


class ShopError(ValueError):
    """A user-facing problem with a store or its credentials."""


@dataclass(frozen=True)
class ShopifyShopDetails:
    """What Shopify says about a store whose token was just checked."""

    name: str | None
    currency: str
    timezone: str | None


def normalize_shopify_domain(value: str) -> str:
    """`name`, `name.myshopify.com` or `https://name.myshopify.com/` → `name.myshopify.com`.

    A bare name is a shorthand for finding a connected store; `shopify_domain_to_connect`
    is the strict form for connecting one."""
    domain = value.strip().lower()
    domain = re.sub(r"^https?://", "", domain).rstrip("/")
    if "." not in domain:
        domain += ".myshopify.com"
    return _checked_domain(domain, value)


def shopify_domain_to_connect(value: str) -> str:
    """The store's full `name.myshopify.com` domain (any case, optionally as an https URL),
    or ShopError saying what was expected: a connection is never made to a guessed domain."""
    domain = re.sub(r"^https?://", "", value.strip().lower()).rstrip("/")
    if domain and "." not in domain and valid_shop_domain(f"{domain}.myshopify.com"):
        raise ShopError(f"{value!r} is not a Shopify store domain: give the full "
                        f"myshopify domain, e.g. {domain}.myshopify.com")
    return _checked_domain(domain, value)


def _checked_domain(domain: str, value: str) -> str:
    checked = valid_shop_domain(domain)  # the one rule, shared with OAuth and session tokens
    if checked is None:
        raise ShopError(f"{value!r} is not a Shopify store domain (expected name.myshopify.com)")
    return checked


def check_shopify_token(domain: str, token: str, *, api_version: str,
                        http=None) -> ShopifyShopDetails:
    """Ask the store's Admin API who it is with `token`: the proof the token works.

    ShopError says why not (a refused or under-scoped token, no such store, Shopify out of
    reach, an answer of the wrong shape). The token never appears in a message or a log."""
    from connectors.http import HttpError, NotFound
    from connectors.shopify.admin import AdminApiError, AdminAuthError, AdminClient

    client = AdminClient(domain, token, api_version=api_version, http=http)
    try:
        data = client.execute(SHOP_DETAILS_QUERY)
    except AdminAuthError as exc:
        cause = exc.__cause__
        why = f"HTTP {cause.status}" if isinstance(cause, HttpError) and cause.status else exc
        raise ShopError(f"Shopify refused this token for {domain} ({why}). Give the Admin API "
                        "access token (shpat_...) of a custom app installed on that store") \
            from None
    except AdminApiError as exc:
        if isinstance(exc.__cause__, NotFound):
            raise ShopError(f"there is no Shopify store at {domain} (its Admin API answered "
                            "404); check the spelling of the myshopify domain") from None
        raise ShopError(f"could not check the token with {domain}: {exc}") from None
    shop = data.get("shop") if isinstance(data, dict) else None
    if not isinstance(shop, dict):
        raise ShopError(f"{domain} answered the shop query without a shop")
    name, currency, timezone = (shop.get(key) for key in ("name", "currencyCode",
                                                          "ianaTimezone"))
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        raise ShopError(f"{domain} answered the shop query without a currency code")
    return ShopifyShopDetails(
        name=(name.strip()[:255] or None) if isinstance(name, str) else None,
        currency=currency,
        # The column holds an IANA name (at most 64 characters); anything else is dropped.
        timezone=timezone if isinstance(timezone, str) and 0 < len(timezone) <= 64 else None,
    )


def connect_shopify_by_token(session: Session, domain: str, token: str,
                             *, name: str | None = None, currency: str = "USD",
                             verify: bool = False, api_version: str | None = None,
                             http=None) -> Shop:
    """Connect (or reconnect) a Shopify store with an Admin API access token.

    With `verify=True` the domain must be given in full and the token is first checked with a
    real Admin API call (`check_shopify_token`, needs an app context for the API version):
    nothing is stored when it fails, and the store's name, currency and time zone come from
    Shopify's answer. Without it (tests, the demo, benchmarks) nothing leaves the machine.
    """
    domain = shopify_domain_to_connect(domain) if verify else normalize_shopify_domain(domain)
    if not token or not token.strip():
        raise ShopError("an Admin API access token is required")
    token = token.strip()
    details = None
    if verify:
        from flask import current_app

        details = check_shopify_token(
            domain, token, http=http,
            api_version=api_version or current_app.config["SHOPIFY_API_VERSION"])
    shop = session.execute(
        select(Shop).where(Shop.platform == "shopify", Shop.domain == domain)
    ).scalar_one_or_none()
    if shop is None:
        shop = Shop(platform="shopify", domain=domain, currency=currency)
        session.add(shop)
    shop.name = name or (details and details.name) or shop.name or domain.split(".")[0]
    if details is not None:
        shop.currency = details.currency
        shop.timezone = details.timezone or shop.timezone
    shop.access_token_encrypted = encrypt(token)
    shop.status = "active"
    shop.uninstalled_at = None
    shop.installed_at = utcnow()
    session.flush()
    return shop


def find_shop(session: Session, ref: str) -> Shop:
    """A shop by id, domain, or Shopify shop name."""
    ref = ref.strip()
    query = select(Shop)
    shop_id = parse_id(ref)
    if shop_id is not None:
        shop = session.get(Shop, shop_id)
    else:
        candidates = {ref.lower()}
        try:
            candidates.add(normalize_shopify_domain(ref))
        except ShopError:
            pass
        try:
            candidates.add(normalize_woocommerce_url(ref).domain)
        except ShopError:
            pass
        shop = session.execute(query.where(Shop.domain.in_(candidates))).scalars().first()
    if shop is None:
        raise ShopError(f"no connected store matches {ref!r} (try `flask --app app shops list`)")
    return shop


def _hash_key(key: str) -> str:
    # Keys are 256-bit random: a fast hash is enough (there is nothing to brute-force).
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, shop: Shop, label: str | None = None) -> tuple[ApiKey, str]:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(shop_id=shop.id, prefix=key[:14], key_hash=_hash_key(key), label=label)
    session.add(row)
    session.flush()
    return row, key


def revoke_api_key(session: Session, shop: Shop, key_id: int) -> ApiKey:
    row = session.execute(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.shop_id == shop.id)
    ).scalar_one_or_none()
    if row is None:
        raise ShopError(f"store {shop.domain} has no API key with id {key_id}")
    row.revoked_at = row.revoked_at or utcnow()
    return row


def shop_for_api_key(session: Session, key: str) -> Shop | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    row = session.execute(
        select(ApiKey).where(ApiKey.key_hash == _hash_key(key), ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return None
    return session.get(Shop, row.shop_id)


def normalize_woocommerce_url(value: str):
    """A WooCommerce store URL → its REST base URL and Shop domain (host[:port][/path]).

    Returns a `connectors.woocommerce.connect.StoreUrl`; ShopError says what is wrong.
    """
    from connectors.woocommerce.connect import StoreUrlError, parse_store_url

    try:
        return parse_store_url(value)
    except StoreUrlError as exc:
        raise ShopError(str(exc)) from exc


def connect_woocommerce_by_keys(session: Session, store_url: str, consumer_key: str,
                                consumer_secret: str, *, http=None) -> Shop:
    """Connect (or reconnect) a WooCommerce store with REST keys the merchant created.

    The keys are confirmed with a real API call first (over HTTPS as basic auth, over plain
    HTTP signed with OAuth 1.0a); nothing is stored when they do not work. Registering
    Sticky's webhooks is the caller's next step (app.woocommerce.webhooks).
    """
    from connectors.woocommerce.client import WooClient
    from connectors.woocommerce.connect import KeysRejected, confirm_keys

    store = normalize_woocommerce_url(store_url)
    consumer_key, consumer_secret = (consumer_key or "").strip(), (consumer_secret or "").strip()
    if not consumer_key or not consumer_secret:
        raise ShopError("both a consumer key (ck_...) and a consumer secret (cs_...) are required")
    client = WooClient(store.base_url, consumer_key, consumer_secret, http=http)
    try:
        info = confirm_keys(client)
    except KeysRejected as exc:
        raise ShopError(f"{store.base_url}: {exc}") from exc
    shop = session.execute(
        select(Shop).where(Shop.platform == "woocommerce", Shop.domain == store.domain)
    ).scalar_one_or_none()
    if shop is None:
        shop = Shop(platform="woocommerce", domain=store.domain)
        session.add(shop)
    shop.name = shop.name or info.name or store.domain
    shop.currency = info.currency
    shop.timezone = info.timezone or shop.timezone
    shop.api_base_url = store.base_url
    shop.consumer_key_encrypted = encrypt(consumer_key)
    shop.consumer_secret_encrypted = encrypt(consumer_secret)
    shop.status = "active"
    shop.uninstalled_at = None
    shop.installed_at = utcnow()
    session.flush()
    return shop
