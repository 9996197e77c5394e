"""`/proxy/rewards`: the rewards widget inside a Shopify store, through the app proxy.

`https://<store>/apps/sticky/rewards` reaches `GET /proxy/rewards` with Shopify's signed
query (app.loyalty.proxy). The answer is `Content-Type: application/liquid`, which Shopify
renders inside the store's theme layout (header, footer, fonts); `?format=json` answers the
same view as JSON. Forms post to `<path_prefix>/rewards/redeem` and `/birthday` on the
store's own domain, so Shopify signs them the same way.
"""

from __future__ import annotations

import logging

from flask import current_app, jsonify, make_response, request
from sqlalchemy import select

from app.db import db
from app.loyalty.proxy import ProxyRefused, ProxyRequest, check_proxy_request
from app.loyalty.widget import widget_view
from app.shops.models import Shop
from app.storefront import bp
from app.storefront.page import (
    Door,
    Notice,
    liquid_safe,
    new_form_token,
    notice_json,
    profile_for,
    redeem_reward,
    render_body,
    save_birthday,
)

log = logging.getLogger(__name__)


def _refuse(reason: str, status: int):
    response = make_response(reason + "\n", status)
    response.mimetype = "text/plain"
    return response


def _verified() -> tuple[ProxyRequest, Shop]:
    config = current_app.config
    proxied = check_proxy_request(
        list(request.args.lists()),
        secrets=(config["SHOPIFY_API_SECRET"], config.get("SHOPIFY_API_SECRET_OLD")))
    shop = db.session.execute(select(Shop).where(
        Shop.platform == "shopify", Shop.domain == proxied.shop_domain)).scalar_one_or_none()
    if shop is None or shop.status != "active":
        raise ProxyRefused("Sticky is not installed on this store.", status=404)
    return proxied, shop


def _door(proxied: ProxyRequest) -> Door:
    base = proxied.path_prefix
    return Door(mode="proxy", redeem_url=f"{base}/rewards/redeem",
                birthday_url=f"{base}/rewards/birthday",
                asset_base=current_app.config["APP_URL"].rstrip("/"),
                login_url="/account/login", register_url="/account/register")


def _answer(proxied: ProxyRequest, shop: Shop, customer_id: int | None,
            notice: Notice | None = None):
    session = db.session
    view = widget_view(session, shop, customer_id)
    if proxied.customer_id and customer_id is None:
        view["signed_in_without_profile"] = True
    session.commit()  # a member row made for its referral code
    if request.args.get("format") == "json":
        body = dict(view)
        if notice is not None:
            body["result"] = notice_json(notice)
        return jsonify(body), notice.status if notice else 200
    token = new_form_token(shop.id, customer_id) if customer_id is not None else None
    html = render_body(view, _door(proxied), notice, form_token=token)
    response = make_response(liquid_safe(html), 200)
    # Shopify renders an application/liquid answer inside the theme's layout. A refused
    # action is a message on the page (200): the shopper reads it in the store's theme.
    response.headers["Content-Type"] = "application/liquid; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/proxy/rewards")
def proxy_rewards():
    try:
        proxied, shop = _verified()
    except ProxyRefused as exc:
        log.info("shopify.proxy.refused", extra={"status": exc.status, "reason": exc.reason})
        return _refuse(exc.reason, exc.status)
    customer_id = profile_for(db.session, shop, proxied.customer_id)
    return _answer(proxied, shop, customer_id)


def _act(action):
    try:
        proxied, shop = _verified()
    except ProxyRefused as exc:
        log.info("shopify.proxy.refused", extra={"status": exc.status, "reason": exc.reason})
        return _refuse(exc.reason, exc.status)
    customer_id = profile_for(db.session, shop, proxied.customer_id)
    if customer_id is None:
        notice = Notice("error", "Sign in to your account to use your points.", status=401)
    else:
        notice = action(db.session, shop, customer_id, request.form.to_dict())
    return _answer(proxied, shop, customer_id, notice)


@bp.post("/proxy/rewards/redeem")
def proxy_redeem():
    return _act(redeem_reward)


@bp.post("/proxy/rewards/birthday")
def proxy_birthday():
    return _act(save_birthday)
