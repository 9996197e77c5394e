"""WooCommerce jobs: confirm a handshake, keep webhooks alive, re-read deleted orders."""

from __future__ import annotations

import logging

from rq import Retry
from sqlalchemy import select

from app.db import db, utcnow
from app.queue import get_queue
from app.shops.models import Shop
from jobs.context import app_context

log = logging.getLogger(__name__)


def confirm_connection(shop_id: int) -> dict:
    """Check a store's new keys with a real API call; then activate it and add webhooks.

    A store that answers and refuses ends the handshake as failed (the merchant sees why on
    the connected page); an unreachable store raises so RQ retries.
    """
    from app.woocommerce.service import finish_requests, link_account
    from connectors.woocommerce.client import WooClient
    from connectors.woocommerce.connect import KeysRejected, confirm_keys
    from connectors.woocommerce.webhooks import ensure_webhooks

    with app_context() as app:
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or shop.platform != "woocommerce":
                return {"shop_id": shop_id, "skipped": "unknown store"}
            client = WooClient.for_shop(shop)
            try:
                info = confirm_keys(client)
            except KeysRejected as exc:
                if exc.retryable:
                    raise
                finish_requests(session, shop_id, error=str(exc))
                session.commit()
                log.warning("woocommerce.connect.keys_rejected",
                            extra={"shop_id": shop_id, "reason": str(exc)})
                return {"shop_id": shop_id, "connected": False, "reason": str(exc)}
            shop.currency = info.currency
            shop.timezone = info.timezone or shop.timezone
            shop.status, shop.installed_at, shop.uninstalled_at = "active", utcnow(), None
            session.commit()
            result = ensure_webhooks(session, shop, client, app.config["APP_URL"])
            accounts = finish_requests(session, shop_id, error=None)
            for account_id in accounts:
                link_account(session, account_id, shop_id)
            session.commit()
            log.info("woocommerce.connect.confirmed",
                     extra={"shop_id": shop_id, "webhooks": result.summary()})
            return {"shop_id": shop_id, "connected": True, "webhooks": result.summary()}


def enqueue_confirmation(shop_id: int) -> None:
    get_queue("default").enqueue(confirm_connection, shop_id, job_timeout=300,
                                 retry=Retry(max=4, interval=[5, 30, 120, 600]))


def ensure_webhooks_for(shop_id: int) -> dict:
    """List Sticky's webhooks on one store and recreate any disabled, paused or missing."""
    from connectors.woocommerce.client import WooClient
    from connectors.woocommerce.webhooks import ensure_webhooks

    with app_context() as app:
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or shop.platform != "woocommerce" or shop.status != "active":
                return {"shop_id": shop_id, "skipped": "not an active WooCommerce store"}
            result = ensure_webhooks(session, shop, WooClient.for_shop(shop),
                                     app.config["APP_URL"])
            if result.created or result.recreated or result.failed:
                log.warning("woocommerce.webhooks.repaired",
                            extra={"shop_id": shop_id, "summary": result.summary()})
            return {"shop_id": shop_id, "webhooks": result.summary(),
                    "recreated": result.recreated, "created": result.created}


def ensure_webhooks_all() -> dict:
    """Periodic: one ensure_webhooks_for job per active WooCommerce store."""
    with app_context():
        with db.new_session() as session:
            shop_ids = session.execute(
                select(Shop.id).where(Shop.platform == "woocommerce", Shop.status == "active")
            ).scalars().all()
        queue = get_queue("default")
        for shop_id in shop_ids:
            queue.enqueue(ensure_webhooks_for, shop_id, job_timeout=300, result_ttl=600)
        return {"enqueued": list(shop_ids)}


def refresh_orders(shop_id: int, order_ids: list[str]) -> dict:
    """Re-read orders from the store and apply them (used for `order.deleted`).

    A trashed order comes back with status `trash` and is voided; an order deleted for good
    (404) is voided from its stored copy. Either way it leaves every figure.
    """
    from app.profiles.store import ProfileStore
    from app.profiles.writer import lock_shop
    from connectors.http import NotFound
    from connectors.woocommerce.client import WooClient
    from connectors.woocommerce.normalize import order_records
    from connectors.woocommerce.reconcile import tombstone

    with app_context():
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or shop.platform != "woocommerce":
                return {"shop_id": shop_id, "skipped": "unknown store"}
            client = WooClient.for_shop(shop)
            records = []
            for order_id in order_ids:
                try:
                    records += order_records(client.get(f"orders/{order_id}"))
                except NotFound:
                    records += tombstone(session, shop_id, str(order_id))
            session.commit()  # end the read transaction before the write one
            with session.begin():
                # The inbox drain's per-shop lock: never apply beside a running drain.
                lock_shop(session, shop_id)
                store = ProfileStore(session, shop_id)
                store.prefetch(records)
                for record in records:
                    store.apply(record)
                store.finish()
            return {"shop_id": shop_id, "applied": len(records)}
