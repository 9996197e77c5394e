"""Connector clients for a stored shop: where a Shop row becomes a URL and clear credentials.

A connector takes a store's URL and decrypted credentials and knows nothing of Shop rows
(DESIGN.md, "Layers"). Choosing the store, decrypting its credentials and refreshing an
expiring token are the domain's work, done here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from app.crypto import decrypt
from app.shops.models import Shop
from app.shops.outbound import require_outbound
from app.shops.tokens import admin_access_token
from connectors.http import HttpClient
from connectors.shopify.admin import AdminClient
from connectors.woocommerce.client import WooClient


def shopify_admin_client(session: Session, shop: Shop, *, api_version: str | None = None,
                         **kwargs: Any) -> AdminClient:
    """An Admin API client for a Shopify shop, with its token (refreshed first when it is
    about to expire; may commit, see app/shops/tokens.py). Raises TokenError when the shop
    has no usable token. Other keyword arguments go to AdminClient."""
    version = api_version or current_app.config["SHOPIFY_API_VERSION"]
    return AdminClient(shop.domain, admin_access_token(session, shop), api_version=version,
                       **kwargs)


def woo_client(shop: Shop, *, http: HttpClient | None = None) -> WooClient:
    """A REST client for a WooCommerce store, with its decrypted keys. ValueError when the
    store has none; CredentialError when they cannot be decrypted; OutboundRefused for the
    local demo store, which never calls a platform."""
    require_outbound(shop, "a WooCommerce API call")
    if not (shop.api_base_url and shop.consumer_key_encrypted
            and shop.consumer_secret_encrypted):
        raise ValueError(f"store {shop.domain} has no WooCommerce REST keys")
    return WooClient(shop.api_base_url, decrypt(shop.consumer_key_encrypted),
                     decrypt(shop.consumer_secret_encrypted), http=http)
