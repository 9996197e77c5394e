"""A shop's Admin API token: stored encrypted, refreshed before it expires, migrated to expiring.

`admin_access_token(session, shop)` is the one way code gets a shop's Admin API token.

Expiring offline tokens live about an hour and come with a refresh token that Shopify rotates
on every use, so two processes refreshing at once would leave one of them holding a dead
refresh token. Refreshes are therefore serialized per shop and the new pair is saved in the
same transaction that held the lock:
- PostgreSQL: `SELECT ... FOR UPDATE` on the shop row in a session of its own, re-check after
  the lock is granted (another process may have refreshed meanwhile), call Shopify, save, commit.
- SQLite: every transaction already holds the database write lock (BEGIN IMMEDIATE), so the
  refresh runs in the caller's session, which is committed at once so the rotated refresh token
  is never lost to a later rollback.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.crypto import CredentialError, decrypt, encrypt
from app.db import db, utcnow
from app.shops.models import Shop
from app.shops.outbound import require_outbound
from connectors.shopify import oauth
from connectors.shopify.oauth import OAuthError, OfflineToken

log = logging.getLogger(__name__)

REFRESH_AHEAD = timedelta(minutes=5)
_TOKEN_COLUMNS = ("access_token_encrypted", "refresh_token_encrypted", "access_token_expires_at",
                  "refresh_token_expires_at", "scopes")


class TokenError(RuntimeError):
    """The shop has no usable Admin API token (uninstalled, never installed, or refresh failed)."""


def _check_usable(shop: Shop) -> None:
    if shop.platform != "shopify":
        raise TokenError(f"store {shop.domain} is not a Shopify store")
    # Every Admin API call, refresh and migration starts here: the demo store's stops here.
    require_outbound(shop, "Admin API access")
    if shop.status == "uninstalled":
        raise TokenError(f"store {shop.domain} has uninstalled Sticky; reinstall to reconnect")
    if not shop.access_token_encrypted:
        raise TokenError(f"store {shop.domain} has no Admin API token; install the app first")


def _decrypt(value: str) -> str:
    try:
        return decrypt(value)
    except CredentialError as exc:
        raise TokenError(str(exc)) from exc


def needs_refresh(shop: Shop, now: datetime | None = None) -> bool:
    """True for an expiring token within REFRESH_AHEAD of its expiry (or past it)."""
    if shop.access_token_expires_at is None:
        return False  # a non-expiring token
    return shop.access_token_expires_at - (now or utcnow()) <= REFRESH_AHEAD


def is_non_expiring(shop: Shop) -> bool:
    return bool(shop.access_token_encrypted) and shop.access_token_expires_at is None


def admin_access_token(session: Session, shop: Shop) -> str:
    """The shop's Admin API token in clear text, refreshed first when it is about to expire.

    Raises TokenError when the shop is uninstalled, has no token, or Shopify refuses the
    refresh (the merchant must open the app again); OutboundRefused for the local demo
    store. May commit `session` on SQLite (see the module docstring); on PostgreSQL the
    refresh commits in a session of its own.
    """
    _check_usable(shop)
    if not needs_refresh(shop):
        return _decrypt(shop.access_token_encrypted or "")
    if session.get_bind().dialect.name == "postgresql":
        with db.new_session() as own:
            with own.begin():
                locked = _lock_and_refresh(own, shop.id)
                fresh = {name: getattr(locked, name) for name in _TOKEN_COLUMNS}
        # Show the caller's copy the committed values without marking it dirty.
        for name, value in fresh.items():
            set_committed_value(shop, name, value)
        return _decrypt(shop.access_token_encrypted or "")
    locked = _lock_and_refresh(session, shop.id)
    session.commit()
    return _decrypt(locked.access_token_encrypted or "")


def _lock_and_refresh(session: Session, shop_id: int) -> Shop:
    query = select(Shop).where(Shop.id == shop_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    shop = session.execute(query).scalar_one()
    _check_usable(shop)
    if not needs_refresh(shop):
        # Someone refreshed while we waited for the lock: use theirs.
        return shop
    if not shop.refresh_token_encrypted:
        raise TokenError(f"store {shop.domain} has an expiring token but no refresh token; "
                         "the merchant must open Sticky in the Shopify admin to reconnect")
    try:
        grant = oauth.refresh_offline_token(
            shop.domain, _decrypt(shop.refresh_token_encrypted), shop.refresh_token_expires_at,
            current_app.config)
    except OAuthError as exc:
        log.warning("shopify.token.refresh_failed", extra={"shop": shop.domain,
                                                           "code": exc.code})
        raise TokenError(f"could not refresh the Admin API token of {shop.domain}: {exc}") from exc
    apply_grant(shop, grant)
    session.flush()
    log.info("shopify.token.refreshed", extra={"shop": shop.domain})
    return shop


def apply_grant(shop: Shop, grant: OfflineToken) -> None:
    """Store a granted token pair on the shop (encrypted), replacing the previous pair whole."""
    shop.access_token_encrypted = encrypt(grant.access_token)
    shop.access_token_expires_at = grant.expires_at
    shop.refresh_token_encrypted = encrypt(grant.refresh_token) if grant.refresh_token else None
    shop.refresh_token_expires_at = grant.refresh_token_expires_at
    if grant.scope:
        shop.scopes = grant.scope


def clear_credentials(shop: Shop) -> None:
    for name in _TOKEN_COLUMNS:
        if name != "scopes":
            setattr(shop, name, None)


def migrate_to_expiring(session: Session, shop: Shop) -> bool:
    """Swap a non-expiring offline token for an expiring one (Shopify's migration exchange).

    For public-app installs whose merchant has not opened the app since expiring tokens were
    adopted (opening the app migrates too, by token exchange). Custom-app tokens connected with
    `shops add --token` cannot be migrated; Shopify refuses and TokenError is raised.
    Returns False when there was nothing to migrate. Commits `session`.
    """
    query = select(Shop).where(Shop.id == shop.id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    locked = session.execute(query).scalar_one()
    _check_usable(locked)
    if not is_non_expiring(locked):
        session.commit()
        return False
    config = current_app.config
    domain = locked.domain
    try:
        grant = oauth.migrate_offline_token(
            domain, _decrypt(locked.access_token_encrypted or ""),
            api_key=config["SHOPIFY_API_KEY"], api_secret=config["SHOPIFY_API_SECRET"])
    except OAuthError as exc:
        session.rollback()  # releases the row lock (PostgreSQL) / write lock (SQLite)
        raise TokenError(f"could not migrate the token of {domain}: {exc}") from exc
    apply_grant(locked, grant)
    session.commit()
    log.info("shopify.token.migrated_to_expiring", extra={"shop": locked.domain})
    return True
