"""`POST /webhooks/shopify`: every Shopify topic, including compliance topics.

Raw bytes → constant-time signature check → inbox row (unique per shop and webhook id) →
commit → enqueue → 200. The body is not parsed here; the worker does that.

Two kinds of delivery, one inbox (the durable record that Shopify's request arrived):
- store data (orders, customers, carts, ...) stays `pending` and is applied in order by the
  per-shop drain (`jobs.ingest.drain_shop`) through the connector's normalizer;
- lifecycle and privacy topics (app/uninstalled, customers/data_request, customers/redact,
  shop/redact) are not store data: they are stored as `dispatched`, which the drain skips, and get
  a job of their own (`jobs.compliance.handle_lifecycle_delivery`, by inbox id, retried, swept),
  so a privacy request never waits behind a backlog of orders and never meets the normalizer.
"""

from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, current_app, request

from app.compliance.dispatch import enqueue_lifecycle
from app.compliance.service import DISPATCHED, LIFECYCLE_TOPICS, record_ignored
from app.db import db
from app.inbox.accept import accept_delivery
from app.inbox.models import PENDING, InboxEntry
from app.inbox.queueing import request_drain
from app.shops.models import Shop
from connectors.shopify.signatures import verify_webhook
from webhooks.common import BadHeader, header, reply

log = logging.getLogger(__name__)

bp = Blueprint("shopify_webhooks", __name__)

_TOPIC_LENGTH = InboxEntry.__table__.c.topic.type.length
_KEY_LENGTH = InboxEntry.__table__.c.delivery_key.type.length
_DOMAIN_LENGTH = Shop.__table__.c.domain.type.length


@bp.post("/webhooks/shopify")
def receive():
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    secrets = (current_app.config["SHOPIFY_API_SECRET"],
               current_app.config.get("SHOPIFY_API_SECRET_OLD"))
    if not verify_webhook(body, request.headers.get("X-Shopify-Hmac-Sha256"), secrets):
        log.warning("shopify.webhook.invalid_signature",
                    extra={"shop": (request.headers.get("X-Shopify-Shop-Domain") or "")[:255]})
        return reply(401, "invalid or missing X-Shopify-Hmac-Sha256 signature")

    try:
        topic = header("X-Shopify-Topic", max_length=_TOPIC_LENGTH, required=True)
        shop_domain = header("X-Shopify-Shop-Domain", max_length=_DOMAIN_LENGTH,
                             required=True).lower()
        webhook_id = header("X-Shopify-Webhook-Id", max_length=_KEY_LENGTH)
    except BadHeader as exc:
        return reply(400, str(exc))
    # Shopify always sends a webhook id; without one, the body itself identifies the delivery.
    delivery_key = webhook_id or "sha256:" + hashlib.sha256(topic.encode() + body).hexdigest()
    lifecycle = topic in LIFECYCLE_TOPICS

    # Stored and committed before anything else happens.
    accepted = accept_delivery(platform="shopify", shop_domain=shop_domain, topic=topic,
                               delivery_key=delivery_key, payload=body,
                               status=DISPATCHED if lifecycle else PENDING)
    if accepted.shop_id is None:
        log.info("shopify.webhook.unknown_shop", extra={"shop": shop_domain, "topic": topic})
        if lifecycle:
            # Sticky holds nothing for this store; the audit trail still shows we answered.
            record_ignored(db.session, topic=topic, shop_domain=shop_domain,
                           delivery_key=delivery_key, note="store not connected to Sticky")
            db.session.commit()
        return reply(200, "shop is not connected to Sticky; ignored")
    if not accepted.stored:
        return reply(200, "duplicate delivery; already accepted")
    if lifecycle:
        # Dispatched (not left for the drain): it has a job of its own, by inbox id.
        enqueue_lifecycle(accepted.inbox_id)
    else:
        request_drain(accepted.shop_id)
    return reply(200, "accepted")
