"""How a store is connected, in words: its platform, status and the state of its credential.

For the Settings page. It reads only the credential columns' presence and expiry dates,
never decrypts anything, so what it returns can be shown to anyone who sees the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.db import utcnow
from app.shops.models import Shop
from app.shops.outbound import PLATFORM_NAMES, outbound_allowed
from app.shops.tokens import REFRESH_AHEAD

STATUS_TONES = {"active": "success", "uninstalled": "critical", "pending": "attention"}
STATUS_MEANINGS = {
    "active": "Sticky receives this store's webhooks and may call its API.",
    "uninstalled": "The store removed Sticky: no webhooks arrive and its credential is "
                   "cleared. Its data stays until the platform asks for it to be erased.",
    "pending": "The connection was started but the store has not confirmed it yet.",
}


@dataclass(frozen=True)
class CredentialState:
    label: str  # a few words, shown as a badge
    tone: str  # a badge tone: success | attention | warning | critical | info
    explanation: str  # one line: what it means and what to do
    facts: list[tuple[str, datetime]] = field(default_factory=list)  # dated facts, UTC


@dataclass(frozen=True)
class Connection:
    platform: str  # "Shopify" | "WooCommerce"
    domain: str
    status: str
    status_tone: str
    status_meaning: str
    installed_at: datetime | None
    uninstalled_at: datetime | None
    credential: CredentialState
    scopes: list[str]
    local_demo: bool


def describe_connection(shop: Shop, now: datetime | None = None) -> Connection:
    now = now or utcnow()
    return Connection(
        platform=PLATFORM_NAMES.get(shop.platform, shop.platform),
        domain=shop.domain,
        status=shop.status,
        status_tone=STATUS_TONES.get(shop.status, "info"),
        status_meaning=("Sticky receives this store's webhooks, from the demo's store "
                        "simulator." if shop.status == "active" and not outbound_allowed(shop)
                        else STATUS_MEANINGS.get(shop.status, "")),
        installed_at=shop.installed_at,
        uninstalled_at=shop.uninstalled_at,
        credential=credential_state(shop, now),
        scopes=sorted({s.strip() for s in (shop.scopes or "").split(",") if s.strip()}),
        local_demo=not outbound_allowed(shop),
    )


def credential_state(shop: Shop, now: datetime) -> CredentialState:
    if not outbound_allowed(shop):
        platform = PLATFORM_NAMES.get(shop.platform, shop.platform)
        return CredentialState(
            "Local demo", "info",
            f"This is the local demo store: its credential is made up and Sticky never calls "
            f"{platform} for it. Its webhooks come from the demo's store simulator.")
    if shop.platform == "woocommerce":
        return _woocommerce_keys(shop)
    return _shopify_token(shop, now)


def _woocommerce_keys(shop: Shop) -> CredentialState:
    if shop.consumer_key_encrypted and shop.consumer_secret_encrypted:
        return CredentialState(
            "REST API keys stored", "success",
            "Sticky holds the store's WooCommerce REST API key and secret (encrypted) and "
            "uses them to import history and reconcile orders. They do not expire; revoke "
            "them in WooCommerce → Settings → Advanced → REST API.")
    return CredentialState(
        "No REST API keys", "critical",
        "Sticky has no WooCommerce REST API keys for this store, so it cannot import history "
        "or reconcile. Connect the store again to create them.")


def _shopify_token(shop: Shop, now: datetime) -> CredentialState:
    if not shop.access_token_encrypted:
        why = ("it was cleared when the store uninstalled Sticky"
               if shop.status == "uninstalled" else "the install has not completed")
        return CredentialState(
            "No access token", "critical",
            f"Sticky has no Admin API token for this store ({why}). Open Sticky from Apps in "
            "the Shopify admin to install it again.")
    expires, refresh_until = shop.access_token_expires_at, shop.refresh_token_expires_at
    if expires is None:
        return CredentialState(
            "Non-expiring token", "attention",
            "A non-expiring offline token (a custom app's, or an install from before expiring "
            "tokens). A public app's token is swapped for an expiring one the next time "
            "Sticky is opened from the Shopify admin.")
    facts = [("Access token expires", expires)]
    if refresh_until is not None:
        facts.append(("Refresh token valid until", refresh_until))
    if not shop.refresh_token_encrypted or (refresh_until is not None and refresh_until <= now):
        return CredentialState(
            "Needs reconnecting", "critical",
            "The token has expired and can no longer be renewed. Open Sticky from Apps in the "
            "Shopify admin: that issues a new one.", facts)
    renewal = ("it is renewed before its next use" if expires - now <= REFRESH_AHEAD
               else "Sticky renews it with the refresh token shortly before it expires")
    return CredentialState(
        "Expiring token", "success",
        f"An expiring offline token, as Shopify recommends: it lives about an hour and {renewal}.",
        facts)
