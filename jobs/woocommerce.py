"""WooCommerce jobs: confirm a handshake, keep webhooks alive, re-read deleted orders.

Each one calls the store, so each skips the local demo store (app/shops/outbound.py).
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from app.db import db, utcnow
from app.queue import get_queue
from app.shops.models import Shop
from app.shops.outbound import skip_outbound
from jobs.context import app_context

log = logging.getLogger(__name__)


def confirm_connection(shop_id: int) -> dict:
    """Check a store's new keys with a real API call; then activate it and add webhooks.

    A store that answers and refuses ends the handshake as failed (the merchant sees why on
    the connected page); an unreachable store raises so RQ retries.
    """
    from app.flows.builtins import install as install_builtin_flows
    from app.shops.clients import woo_client
    from app.woocommerce.service import finish_requests, link_account
    from app.woocommerce.webhooks import ensure_webhooks
    from connectors.woocommerce.connect import KeysRejected, confirm_keys

    with app_context() as app:
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or shop.platform != "woocommerce":
                return {"shop_id": shop_id, "skipped": "unknown store"}
            if skip_outbound(shop, "confirming its keys"):
                return {"shop_id": shop_id, "skipped": "the local demo store"}
            client = woo_client(shop)
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
            install_builtin_flows(session, shop.id)
            session.commit()
            result = ensure_webhooks(session, shop, client, app.config["APP_URL"])
            accounts = finish_requests(session, shop_id, error=None)
            for account_id in accounts:
                link_account(session, account_id, shop_id)
            session.commit()
            log.info("woocommerce.connect.confirmed",
                     extra={"shop_id": shop_id, "webhooks": result.summary()})
            return {"shop_id": shop_id, "connected": True, "webhooks": result.summary()}


def ensure_webhooks_for(shop_id: int) -> dict:
    """List Sticky's webhooks on one store and recreate any disabled, paused or missing."""
    from app.shops.clients import woo_client
    from app.woocommerce.webhooks import ensure_webhooks

    with app_context() as app:
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or shop.platform != "woocommerce" or shop.status != "active":
                return {"shop_id": shop_id, "skipped": "not an active WooCommerce store"}
            if skip_outbound(shop, "webhook registration"):
                return {"shop_id": shop_id, "skipped": "the local demo store"}
            result = ensure_webhooks(session, shop, woo_client(shop),
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
            stores = session.execute(
                select(Shop).where(Shop.platform == "woocommerce", Shop.status == "active")
                .order_by(Shop.id)
            ).scalars()
            shop_ids = [shop.id for shop in stores
                        if not skip_outbound(shop, "webhook registration")]
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
    from app.shops.clients import woo_client
    from app.woocommerce.orders import tombstone
    from connectors.http import NotFound
    from connectors.woocommerce.normalize import order_records

    with app_context():
        with db.new_session() as session:
            shop = session.get(Shop, shop_id)
            if shop is None or shop.platform != "woocommerce":
                return {"shop_id": shop_id, "skipped": "unknown store"}
            if skip_outbound(shop, "re-reading orders"):
                return {"shop_id": shop_id, "skipped": "the local demo store"}
            client = woo_client(shop)
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
