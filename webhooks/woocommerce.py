"""`POST /webhooks/woocommerce/<store id>`: every webhook Sticky created on that store.

Raw bytes → (unsigned creation ping: 200, nothing stored) → constant-time signature check with
that webhook's secret → inbox row (deduplicated on resource + id + date_modified_gmt) →
commit → enqueue → 200. The body is only parsed to build the dedup key.

A signed body is stored whatever it holds (nested past any parser's limit, NUL characters in
its id, not JSON at all): it is the store's own delivery, WooCommerce never redelivers one,
and 4xx answers count towards WooCommerce disabling the webhook, which would stop every later
delivery too. Such a body is keyed by its SHA-256, and the worker marks it failed with the
reason, visible in `inbox status --failed`. Headers are not signed: one that cannot be stored
is a 400 naming it (`webhooks/common.py`).

An unknown store id gets 404: the webhook points at a store Sticky does not know (deleted, or
someone else's URL), and WooCommerce disabling it after 5 failures is the kindest outcome for
the merchant's server. A known store's deliveries are never refused for its status.
"""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Blueprint, current_app, request

from app.crypto import CredentialError, decrypt
from app.inbox.accept import accept_delivery, woocommerce_secrets
from app.inbox.models import PENDING, InboxEntry
from app.inbox.queueing import request_drain
from connectors.woocommerce.signatures import delivery_key, is_ping, verify_signature
from webhooks.common import BadHeader, header, reply

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce_webhooks", __name__)

_TOPIC_LENGTH = InboxEntry.__table__.c.topic.type.length
_KEY_LENGTH = InboxEntry.__table__.c.delivery_key.type.length
SECRETS_TTL_SECONDS = 60


def _unknown(store_id: int):
    log.info("woocommerce.webhook.unknown_store", extra={"store_id": store_id})
    return reply(404, f"no WooCommerce store {store_id} is connected to Sticky; "
                      "this webhook can be deleted")


Secret = tuple[str | None, str, str]  # remote webhook id, secret as stored, secret


def _decrypted(shop_id: int, rows: list[tuple[str | None, str]]) -> list[Secret]:
    found = []
    for remote_id, encrypted in rows:
        try:
            found.append((remote_id, encrypted, decrypt(encrypted)))
        except CredentialError:
            log.error("woocommerce.webhook.secret_undecryptable", extra={"shop_id": shop_id})
    return found


def _store_secrets(store_id: int, *, fresh: bool) -> list[Secret] | None:
    """The store's webhook secrets; None when no such store.

    Kept per process for SECRETS_TTL_SECONDS, which spares every delivery a query and the
    decryption. Staleness changes no answer: a delivery is only stored while the secret that
    verified it is still the store's (`accept_delivery(webhook_secret=)`, in the same
    statement), and one that kept secrets do not verify is checked against fresh ones."""
    cache: dict = current_app.extensions.setdefault("sticky.woo_secrets", {})
    now = time.monotonic()
    kept = cache.get(store_id)
    if not fresh and kept is not None and kept[0] > now:
        return kept[1]
    rows = woocommerce_secrets(store_id)
    if rows is None:
        cache.pop(store_id, None)
        return None
    if len(cache) >= 10_000:  # a bound, not a policy: every entry is cheap to rebuild
        cache.clear()
    secrets = _decrypted(store_id, rows)
    cache[store_id] = (now + SECRETS_TTL_SECONDS, secrets)
    return secrets


def _matching(body: bytes, signature: str | None, webhook_id: str,
              secrets: list[Secret]) -> str | None:
    """The stored form of the secret that signed `body`, trying the webhook named in
    X-WC-Webhook-ID, else every secret of the store; None if none did. Every candidate is
    checked (constant-time, no early exit)."""
    named = [s for s in secrets if webhook_id and s[0] == webhook_id]
    matched = None
    for _, stored, secret in named or secrets:
        if verify_signature(body, signature, [secret]):
            matched = stored
    return matched


@bp.post("/webhooks/woocommerce/<int:store_id>")
def receive(store_id: int):
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    # `<int:...>` is app.routing.IdConverter: an id past 2^63 - 1 is a 404 before this runs.
    secrets = _store_secrets(store_id, fresh=False)
    if secrets is None:
        return _unknown(store_id)

    signature = request.headers.get("X-WC-Webhook-Signature")
    if not signature and is_ping(body):
        log.info("woocommerce.webhook.ping", extra={"shop_id": store_id})
        return reply(200, "ping received")
    webhook_id = (request.headers.get("X-WC-Webhook-ID") or "").strip()
    try:
        topic = header("X-WC-Webhook-Topic", max_length=_TOPIC_LENGTH, required=True)
        delivery_id = header("X-WC-Webhook-Delivery-ID", max_length=_KEY_LENGTH)
    except BadHeader as exc:
        bad_header = str(exc)
    else:
        bad_header = None
    # With the kept secrets first; if they do not verify the delivery, or the one that did
    # is no longer the store's when it is stored, once more with the store's current ones.
    for fresh in (False, True):
        if fresh:
            secrets = _store_secrets(store_id, fresh=True)
            if secrets is None:
                return _unknown(store_id)
        secret = _matching(body, signature, webhook_id, secrets)
        if secret is None:
            continue
        if bad_header:  # only said to a sender that signed its body
            return reply(400, bad_header)
        key = _dedup_key(store_id, topic, body, delivery_id)
        # Stored and committed before anything else happens.
        accepted = accept_delivery(platform="woocommerce", shop_id=store_id, topic=topic,
                                   delivery_key=key, payload=body, status=PENDING,
                                   webhook_secret=secret)
        if accepted.shop_id is not None:
            break
    else:
        log.warning("woocommerce.webhook.invalid_signature",
                    extra={"shop_id": store_id, "webhook_id": webhook_id[:64]})
        return reply(401, "invalid or missing X-WC-Webhook-Signature signature")
    if not accepted.stored:
        return reply(200, "duplicate delivery; already accepted")
    request_drain(store_id)
    if topic == "order.deleted":
        _request_order_refresh(store_id, body)
    return reply(200, "accepted")


def _dedup_key(shop_id: int, topic: str, body: bytes, delivery_id: str) -> str:
    """The connector's dedup key, or the body's SHA-256 when the body cannot give one."""
    try:
        key = delivery_key(shop_id, topic, body, delivery_id)
    except Exception:  # noqa: BLE001 - a pure function of signed input: any failure is the body's
        # e.g. RecursionError formatting an id nested a thousand levels deep
        log.info("woocommerce.webhook.unreadable_body", extra={"shop_id": shop_id, "topic": topic})
        key = None
    if key is None or "\x00" in key:  # PostgreSQL text cannot hold NUL
        key = "sha256:" + hashlib.sha256(topic.encode() + b"\n" + body).hexdigest()
    return key


def _request_order_refresh(shop_id: int, body: bytes) -> None:
    """A deletion carries only the id: have a worker re-read the order (trash or gone)."""
    import orjson
    from redis.exceptions import RedisError
    from rq import Retry

    from app.queue import get_queue

    try:
        order_id = orjson.loads(body)["id"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return
    # Only a real order id is worth a REST call; anything else stays a failed delivery.
    if isinstance(order_id, bool) or not isinstance(order_id, int | str):
        return
    order_id = str(order_id)
    if not (order_id.isascii() and order_id.isdigit()):
        return
    try:
        get_queue("default").enqueue("jobs.woocommerce.refresh_orders", shop_id, [order_id],
                                     job_timeout=300, result_ttl=300,
                                     retry=Retry(max=4, interval=[10, 60, 300, 1800]))
    except RedisError:
        # Reconciliation polls trashed orders too, so the deletion is still applied later.
        log.warning("woocommerce.webhook.refresh_enqueue_failed", extra={"shop_id": shop_id})
