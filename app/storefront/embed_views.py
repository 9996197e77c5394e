"""`/embed/rewards`: the rewards widget framed by the WooCommerce companion plugin.

The plugin's My Account → Rewards page frames `GET /embed/rewards?token=...` for the signed-in
WordPress user (the token: app.loyalty.embed). The forms post back to `/embed/rewards/redeem`
and `/embed/rewards/birthday` with the same token, which is the only thing that says who the
shopper is. A refused token shows nothing of anyone's points.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import jsonify, make_response, render_template, request, url_for

from app.db import db
from app.loyalty.embed import EmbedIdentity, EmbedRefused, verify_token
from app.loyalty.widget import widget_view
from app.shops.models import Shop
from app.storefront import bp
from app.storefront.page import (
    Door,
    Notice,
    new_form_token,
    notice_json,
    profile_for,
    redeem_reward,
    render_page,
    save_birthday,
)

log = logging.getLogger(__name__)


def _store_origin(shop: Shop) -> str | None:
    parts = urlsplit(shop.api_base_url or "")
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _headers(response, shop: Shop | None):
    origin = _store_origin(shop) if shop is not None else None
    # Only the store's own pages may frame its customers' rewards.
    response.headers["Content-Security-Policy"] = (
        f"frame-ancestors {origin}" if origin else "frame-ancestors 'none'")
    # The token is in the URL: never hand it to another site in a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(exc: EmbedRefused):
    if request.args.get("format") == "json":
        return _headers(make_response(jsonify({"status": 403, "message": exc.reason}), 403),
                        None)
    html = render_template("loyalty/widget_refused.html", reason=exc.reason)
    return _headers(make_response(html, 403), None)


def _token() -> str:
    return request.values.get("token", "")


def _answer(identity: EmbedIdentity, customer_id: int | None, notice: Notice | None = None):
    session = db.session
    shop = identity.shop
    view = widget_view(session, shop, customer_id)
    if customer_id is None:
        view["signed_in_without_profile"] = True
    session.commit()
    if request.args.get("format") == "json":
        body = dict(view)
        if notice is not None:
            body["result"] = notice_json(notice)
        return _headers(make_response(jsonify(body), notice.status if notice else 200), shop)
    token = _token()
    door = Door(mode="embed", redeem_url=url_for("storefront.embed_redeem"),
                birthday_url=url_for("storefront.embed_birthday"), hidden={"token": token})
    form_token = new_form_token(shop.id, customer_id) if customer_id is not None else None
    html = render_page(view, door, notice, form_token=form_token,
                       title=f"Rewards at {shop.name or shop.domain}")
    return _headers(make_response(html, notice.status if notice else 200), shop)


@bp.get("/embed/rewards")
def embed_rewards():
    try:
        identity = verify_token(db.session, _token())
    except EmbedRefused as exc:
        log.info("loyalty.embed.refused")
        return _refused(exc)
    return _answer(identity, profile_for(db.session, identity.shop, identity.user_id))


def _act(action):
    try:
        identity = verify_token(db.session, _token())
    except EmbedRefused as exc:
        log.info("loyalty.embed.refused")
        return _refused(exc)
    customer_id = profile_for(db.session, identity.shop, identity.user_id)
    if customer_id is None:
        notice = Notice("error", "Your rewards account is still being set up. Please try "
                                 "again in a minute.", status=409)
    else:
        notice = action(db.session, identity.shop, customer_id, request.form.to_dict())
    return _answer(identity, customer_id, notice)


@bp.post("/embed/rewards/redeem")
def embed_redeem():
    return _act(redeem_reward)


@bp.post("/embed/rewards/birthday")
def embed_birthday():
    return _act(save_birthday)
