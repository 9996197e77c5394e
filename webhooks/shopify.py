"""`POST /webhooks/shopify`: every Shopify topic, including compliance topics.

Raw bytes → constant-time signature check → inbox row (unique per shop and webhook id) →
commit → enqueue → 200. The body is not parsed here; the worker does that.
"""

from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from app.db import db
from app.inbox.queueing import request_drain
from app.inbox.service import store_delivery
from app.shops.models import Shop
from connectors.shopify.signatures import verify_webhook

log = logging.getLogger(__name__)

bp = Blueprint("shopify_webhooks", __name__)


def _reply(status: int, message: str):
    return jsonify({"status": status, "message": message}), status


@bp.post("/webhooks/shopify")
def receive():
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    secrets = (current_app.config["SHOPIFY_API_SECRET"],
               current_app.config.get("SHOPIFY_API_SECRET_OLD"))
    shop_domain = (request.headers.get("X-Shopify-Shop-Domain") or "").strip().lower()
    if not verify_webhook(body, request.headers.get("X-Shopify-Hmac-Sha256"), secrets):
        log.warning("shopify.webhook.invalid_signature", extra={"shop": shop_domain})
        return _reply(401, "invalid or missing X-Shopify-Hmac-Sha256 signature")

    topic = (request.headers.get("X-Shopify-Topic") or "").strip()
    if not topic or not shop_domain:
        return _reply(400, "X-Shopify-Topic and X-Shopify-Shop-Domain headers are required")
    webhook_id = (request.headers.get("X-Shopify-Webhook-Id") or "").strip()
    # Shopify always sends a webhook id; without one, the body itself identifies the delivery.
    delivery_key = webhook_id[:128] or "sha256:" + hashlib.sha256(topic.encode() + body).hexdigest()

    session = db.session
    shop = session.execute(
        select(Shop.id, Shop.status).where(Shop.platform == "shopify", Shop.domain == shop_domain)
    ).first()
    if shop is None:
        log.info("shopify.webhook.unknown_shop", extra={"shop": shop_domain, "topic": topic})
        return _reply(200, "shop is not connected to Sticky; ignored")

    inserted = store_delivery(session, shop_id=shop.id, topic=topic,
                              delivery_key=delivery_key, payload=body)
    session.commit()
    if inserted:
        request_drain(shop.id)
    return _reply(200, "accepted" if inserted else "duplicate delivery; already accepted")
