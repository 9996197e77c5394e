"""`POST /webhooks/woocommerce/<store id>`: every webhook Sticky created on that store.

Raw bytes → (unsigned creation ping: 200, nothing stored) → constant-time signature check with
that webhook's secret → inbox row (deduplicated on resource + id + date_modified_gmt) →
commit → enqueue → 200. The body is only parsed to build the dedup key.

An unknown store id gets 404: the webhook points at a store Sticky does not know (deleted, or
someone else's URL), and WooCommerce disabling it after 5 failures is the kindest outcome for
the merchant's server. A known store's deliveries are never refused for its status.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from app.crypto import CredentialError, decrypt
from app.db import db
from app.inbox.queueing import request_drain
from app.inbox.service import store_delivery
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook
from connectors.woocommerce.signatures import delivery_key, is_ping, verify_signature

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce_webhooks", __name__)


def _reply(status: int, message: str):
    return jsonify({"status": status, "message": message}), status


def _secrets(shop_id: int, webhook_id: str) -> list[str]:
    """The secret of the webhook named in X-WC-Webhook-ID, else every secret of the store."""
    query = select(WooWebhook.remote_id, WooWebhook.secret_encrypted).where(
        WooWebhook.shop_id == shop_id, WooWebhook.secret_encrypted.is_not(None))
    rows = db.session.execute(query).all()
    named = [r for r in rows if webhook_id and r.remote_id == webhook_id]
    found = []
    for row in named or rows:
        try:
            found.append(decrypt(row.secret_encrypted))
        except CredentialError:
            log.error("woocommerce.webhook.secret_undecryptable", extra={"shop_id": shop_id})
    return found


@bp.post("/webhooks/woocommerce/<int:store_id>")
def receive(store_id: int):
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    session = db.session
    shop_id = session.execute(
        select(Shop.id).where(Shop.id == store_id, Shop.platform == "woocommerce")
    ).scalar()
    if shop_id is None:
        log.info("woocommerce.webhook.unknown_store", extra={"store_id": store_id})
        return _reply(404, f"no WooCommerce store {store_id} is connected to Sticky; "
                           "this webhook can be deleted")

    signature = request.headers.get("X-WC-Webhook-Signature")
    if not signature and is_ping(body):
        log.info("woocommerce.webhook.ping", extra={"shop_id": shop_id})
        return _reply(200, "ping received")
    webhook_id = (request.headers.get("X-WC-Webhook-ID") or "").strip()
    if not verify_signature(body, signature, _secrets(shop_id, webhook_id)):
        log.warning("woocommerce.webhook.invalid_signature",
                    extra={"shop_id": shop_id, "webhook_id": webhook_id})
        return _reply(401, "invalid or missing X-WC-Webhook-Signature signature")

    topic = (request.headers.get("X-WC-Webhook-Topic") or "").strip()
    if not topic:
        return _reply(400, "the X-WC-Webhook-Topic header is required")
    key = delivery_key(shop_id, topic, body, request.headers.get("X-WC-Webhook-Delivery-ID"))
    inserted = store_delivery(session, shop_id=shop_id, topic=topic[:64], delivery_key=key,
                              payload=body)
    session.commit()
    if inserted:
        request_drain(shop_id)
        if topic == "order.deleted":
            _request_order_refresh(shop_id, body)
    return _reply(200, "accepted" if inserted else "duplicate delivery; already accepted")


def _request_order_refresh(shop_id: int, body: bytes) -> None:
    """A deletion carries only the id: have a worker re-read the order (trash or gone)."""
    import orjson
    from redis.exceptions import RedisError
    from rq import Retry

    from app.queue import get_queue

    try:
        order_id = str(orjson.loads(body)["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return
    try:
        get_queue("default").enqueue("jobs.woocommerce.refresh_orders", shop_id, [order_id],
                                     job_timeout=300, result_ttl=300,
                                     retry=Retry(max=4, interval=[10, 60, 300, 1800]))
    except RedisError:
        # Reconciliation polls trashed orders too, so the deletion is still applied later.
        log.warning("woocommerce.webhook.refresh_enqueue_failed", extra={"shop_id": shop_id})
