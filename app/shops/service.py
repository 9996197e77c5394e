"""Connecting stores and issuing per-store API keys."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.crypto import encrypt
from app.db import utcnow
from app.shops.models import ApiKey, Shop

SHOPIFY_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
API_KEY_PREFIX = "sticky_"


class ShopError(ValueError):
    """A user-facing problem with a store or its credentials."""


def normalize_shopify_domain(value: str) -> str:
    domain = value.strip().lower()
    domain = re.sub(r"^https?://", "", domain).rstrip("/")
    if "." not in domain:
        domain += ".myshopify.com"
    if not SHOPIFY_DOMAIN.match(domain):
        raise ShopError(f"{value!r} is not a Shopify store domain (expected name.myshopify.com)")
    return domain


def connect_shopify_by_token(session: Session, domain: str, token: str,
                             *, name: str | None = None, currency: str = "USD") -> Shop:
    """Connect (or reconnect) a Shopify store with an Admin API access token."""
    domain = normalize_shopify_domain(domain)
    if not token or not token.strip():
        raise ShopError("an Admin API access token is required")
    shop = session.execute(
        select(Shop).where(Shop.platform == "shopify", Shop.domain == domain)
    ).scalar_one_or_none()
    if shop is None:
        shop = Shop(platform="shopify", domain=domain, currency=currency)
        session.add(shop)
    shop.name = name or shop.name or domain.split(".")[0]
    shop.access_token_encrypted = encrypt(token.strip())
    shop.status = "active"
    shop.installed_at = utcnow()
    session.flush()
    return shop


def find_shop(session: Session, ref: str) -> Shop:
    """A shop by id, domain, or Shopify shop name."""
    ref = ref.strip()
    query = select(Shop)
    if ref.isdigit():
        shop = session.get(Shop, int(ref))
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
