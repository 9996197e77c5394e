"""`/woocommerce/connect`, `/woocommerce/callback`, `/woocommerce/connected`.

The merchant's pages are minimal self-contained HTML (templates/woocommerce/); every outcome,
including a refusal, a stale link or keys that do not work, ends on a page that says what
happened and what to do. The callback is WooCommerce's server talking: JSON in, JSON out, and
exactly 200 only when the keys were accepted (any other answer makes WooCommerce delete the
keys it just made and show the merchant an error).
"""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, redirect, render_template, request
from redis.exceptions import RedisError
from sqlalchemy import select

from app.db import db
from app.shops.models import Shop
from app.woocommerce.models import CONNECTED, FAILED, KEYS_RECEIVED, REFUSED, WooConnectRequest
from app.woocommerce.service import (
    CallbackRefused,
    accept_keys,
    callback_allowed,
    enqueue_confirmation,
    mark_refused,
    start_connect,
)
from connectors.woocommerce.connect import StoreUrlError, parse_store_url

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce", __name__, url_prefix="/woocommerce")


def _page(name: str, status: int = 200, **context):
    return render_template(f"woocommerce/{name}.html", **context), status


@bp.get("/connect")
def connect():
    raw = request.args.get("store_url")
    if raw is None or not raw.strip():
        return _page("connect", 200, store_url="", error=None)
    try:
        store = parse_store_url(raw)
    except StoreUrlError as exc:
        return _page("connect", 400, store_url=raw, error=str(exc))
    problem = callback_allowed(current_app.config)
    if problem:
        return _page("message", 400, title="Sticky cannot connect yet", message=problem)
    from app.accounts.service import current_account

    account = current_account()  # checks the session version: a signed-out copy links nothing
    started = start_connect(db.session, store, app_url=current_app.config["APP_URL"],
                            account_id=account.id if account is not None else None)
    db.session.commit()
    return redirect(started.redirect_url, code=302)


@bp.post("/callback")
def callback():
    data = request.get_json(silent=True)
    try:
        row = accept_keys(db.session, data)
    except CallbackRefused as exc:
        db.session.rollback()
        return jsonify({"status": exc.status, "message": str(exc)}), exc.status
    db.session.commit()
    try:
        enqueue_confirmation(row.shop_id)
    except RedisError:
        # The keys are stored and the store stays pending; connecting again retries.
        log.warning("woocommerce.callback.enqueue_failed", extra={"shop_id": row.shop_id})
    return jsonify({"status": 200, "message": "keys received"}), 200


@bp.get("/connected")
def connected():
    token = (request.args.get("token") or request.args.get("user_id") or "").strip()
    row = db.session.execute(
        select(WooConnectRequest).where(WooConnectRequest.token == token[:64])
    ).scalar_one_or_none() if token else None
    if row is None:
        return _page("message", 404, title="Unknown connection link",
                     message="This link does not belong to a connection Sticky started. "
                             "Start again from Sticky's “Connect WooCommerce” page.")
    store = row.store_url
    if request.args.get("success") == "0" and row.outcome not in (KEYS_RECEIVED, CONNECTED):
        mark_refused(db.session, row)
        db.session.commit()
    if row.outcome == REFUSED:
        return _page("message", 200, title="Connection declined",
                     message=f"You declined Sticky's access on {store}. Nothing was connected. "
                             "You can start again whenever you like.", retry=True)
    if row.outcome == FAILED:
        return _page("message", 200, title="The keys did not work",
                     message=f"{store} sent keys, but Sticky could not use them: {row.error}. "
                             "Start again, and approve with an administrator account.",
                     retry=True)
    shop = db.session.get(Shop, row.shop_id) if row.shop_id else None
    if row.outcome == CONNECTED and shop is not None:
        return _page("message", 200, title="Connected",
                     message=f"{store} is connected to Sticky (store id {shop.id}). Its "
                             "customers and orders now flow into Sticky.")
    if row.outcome == KEYS_RECEIVED:
        return _page("message", 200, title="Checking the keys…", refresh=3,
                     message=f"{store} sent Sticky its keys; Sticky is checking them and "
                             "setting up webhooks. This page refreshes by itself.")
    if row.expires_at is not None and row.expires_at < _now():
        return _page("message", 410, title="This connection link has expired",
                     message="Start again from Sticky's “Connect WooCommerce” page.",
                     retry=True)
    return _page("message", 200, title="Waiting for your store",
                 message=f"Sticky has not received keys from {store}. If you approved access, "
                         "your store may not be able to reach Sticky; start again, or add keys "
                         "by hand (see the README).", retry=True)


def _now():
    from app.db import utcnow

    return utcnow()
