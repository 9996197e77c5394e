"""The WooCommerce key handshake (`/wc-auth/v1/authorize`) and confirming a connection.

1. `start_connect`: a single-use token bound to the store URL → the store's authorize URL.
2. The store POSTs the keys to `/woocommerce/callback`: `accept_keys` claims the token
   atomically (unknown, used or expired tokens are refused) and stores the keys encrypted on a
   "pending" Shop. The response must be fast, so the keys are checked afterwards:
3. `confirm_connection` (an RQ job) makes a real API call, activates the store, registers the
   webhooks and links the signed-in account, or records why the keys failed.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rq import Retry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.crypto import encrypt
from app.db import utcnow
from app.queue import get_queue
from app.shops.models import Shop
from app.woocommerce.models import (
    CONNECTED,
    FAILED,
    KEYS_RECEIVED,
    REFUSED,
    WAITING,
    WooConnectRequest,
)
from connectors.woocommerce.connect import StoreUrl, authorize_url, parse_store_url

log = logging.getLogger(__name__)

CONNECT_TTL = timedelta(minutes=30)
CALLBACK_FIELDS = ("key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions")
# Enqueued by name: the app never imports jobs/ (DESIGN.md, "Layers").
CONFIRM_JOB = "jobs.woocommerce.confirm_connection"


class CallbackRefused(ValueError):
    """A key callback Sticky will not accept; `status` is the HTTP answer (never 200)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def callback_allowed(config: dict[str, Any]) -> str | None:
    """None when APP_URL can receive WooCommerce's key callback, else why not.

    WooCommerce only posts keys to an https callback_url; plain http is allowed for local
    development (TESTING, DEBUG or WOOCOMMERCE_ALLOW_HTTP_CALLBACK).
    """
    app_url = config.get("APP_URL") or ""
    if app_url.startswith("https://"):
        return None
    if config.get("TESTING") or config.get("DEBUG") or config.get(
            "WOOCOMMERCE_ALLOW_HTTP_CALLBACK") in (True, "1", "true", "yes"):
        return None
    return (f"Sticky's public address (APP_URL) is {app_url!r}. WooCommerce only sends keys to "
            "an https:// address, so set APP_URL to Sticky's https URL and try again.")


@dataclass
class ConnectStart:
    request: WooConnectRequest
    redirect_url: str


def start_connect(session: Session, store: StoreUrl, *, app_url: str,
                  account_id: Any = None) -> ConnectStart:
    token = secrets.token_urlsafe(32)
    row = WooConnectRequest(token=token, store_url=store.base_url, outcome=WAITING,
                            account_id=str(account_id) if account_id is not None else None,
                            created_at=utcnow(), expires_at=utcnow() + CONNECT_TTL)
    session.add(row)
    session.flush()
    log.info("woocommerce.connect.started", extra={"store": store.domain, "request": row.id})
    return ConnectStart(row, authorize_url(store, token=token, app_url=app_url))


def accept_keys(session: Session, data: Any) -> WooConnectRequest:
    """Store the keys from a key callback on a pending Shop. Raises CallbackRefused."""
    if not isinstance(data, dict):
        raise CallbackRefused("the body must be a JSON object")
    missing = [f for f in ("user_id", "consumer_key", "consumer_secret") if not data.get(f)]
    if missing:
        raise CallbackRefused(f"missing fields: {', '.join(missing)}")
    if str(data.get("key_permissions") or "read_write") != "read_write":
        raise CallbackRefused("Sticky needs read_write keys")
    token = str(data["user_id"])[:64]
    now = utcnow()
    # Claim the token in one statement: of two concurrent callbacks exactly one wins.
    claimed = session.execute(
        update(WooConnectRequest)
        .where(WooConnectRequest.token == token, WooConnectRequest.used_at.is_(None),
               WooConnectRequest.outcome == WAITING, WooConnectRequest.expires_at > now)
        .values(used_at=now, outcome=KEYS_RECEIVED)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        row = session.execute(
            select(WooConnectRequest).where(WooConnectRequest.token == token)
        ).scalar_one_or_none()
        if row is None:
            log.warning("woocommerce.callback.unknown_token")
            raise CallbackRefused("unknown connection request", 404)
        if row.used_at is not None or row.outcome != WAITING:
            log.warning("woocommerce.callback.replayed", extra={"request": row.id})
            raise CallbackRefused("this connection request was already used", 409)
        raise CallbackRefused("this connection request has expired; start again in Sticky", 410)
    row = session.execute(
        select(WooConnectRequest).where(WooConnectRequest.token == token)
    ).scalar_one()
    store = parse_store_url(row.store_url)
    shop = session.execute(
        select(Shop).where(Shop.platform == "woocommerce", Shop.domain == store.domain)
    ).scalar_one_or_none()
    if shop is None:
        shop = Shop(platform="woocommerce", domain=store.domain, name=store.domain,
                    status="pending")
        session.add(shop)
    elif shop.status != "active":
        shop.status = "pending"
    # An active store keeps serving while the new keys are checked.
    shop.api_base_url = store.base_url
    shop.consumer_key_encrypted = encrypt(str(data["consumer_key"]).strip())
    shop.consumer_secret_encrypted = encrypt(str(data["consumer_secret"]).strip())
    session.flush()
    row.shop_id = shop.id
    log.info("woocommerce.callback.keys_received",
             extra={"request": row.id, "shop_id": shop.id, "key_id": data.get("key_id")})
    return row


def enqueue_confirmation(shop_id: int) -> None:
    """Queue step 3 for a store whose keys were just stored. Call after committing them.
    Raises RedisError when Redis is unreachable."""
    get_queue("default").enqueue(CONFIRM_JOB, shop_id, job_timeout=300,
                                 retry=Retry(max=4, interval=[5, 30, 120, 600]))


def mark_refused(session: Session, row: WooConnectRequest) -> None:
    if row.outcome == WAITING:
        row.outcome = REFUSED
        row.used_at = row.used_at or utcnow()


def link_account(session: Session, account_id: str | None, shop_id: int) -> bool:
    """Link the panel account that started the connect, if the accounts module exists."""
    if not account_id:
        return False
    try:
        from app.accounts.service import link_account_to_shop  # type: ignore[import-not-found]
    except ImportError:
        return False
    value: Any = int(account_id) if account_id.isdigit() else account_id
    link_account_to_shop(session, value, shop_id)
    return True


def finish_requests(session: Session, shop_id: int, *, error: str | None) -> list[str]:
    """Record the outcome on the shop's open handshakes; returns their account ids."""
    rows = session.execute(
        select(WooConnectRequest).where(WooConnectRequest.shop_id == shop_id,
                                        WooConnectRequest.outcome == KEYS_RECEIVED)
    ).scalars().all()
    for row in rows:
        row.outcome = FAILED if error else CONNECTED
        row.error = error
    return [row.account_id for row in rows if row.account_id]
