"""What the storefront doors share: rendering the widget, its form tokens, and the two
actions a shopper can take (redeem a reward, give their birthday).

Each door authenticates the shopper its own way (the app proxy's signature, the embed
token) and then hands this module a shop and a profile id it has verified. Nothing here
reads a customer id from the request.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from flask import current_app, render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import birthday, redeem
from app.profiles.models import Customer
from app.shops.models import Shop

log = logging.getLogger(__name__)

FORM_TOKEN_SECONDS = 12 * 3600
_NONCE = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Notice:
    kind: str  # "success" | "error" | "info"
    text: str
    code: str | None = None  # a discount code just issued, shown to copy
    status: int = 200        # what a JSON client is answered with


@dataclass
class Door:
    """How the page links and posts back for one door."""

    mode: str                 # "proxy" | "embed" | "preview"
    redeem_url: str | None
    birthday_url: str | None
    hidden: dict[str, str] = field(default_factory=dict)  # sent back with every form
    asset_base: str = ""      # "" for Sticky's own origin; APP_URL inside a store's theme
    login_url: str | None = None
    register_url: str | None = None


def profile_for(session: Session, shop: Shop, platform_customer_id: str | None) -> int | None:
    """The profile of the store's customer with this platform id (None: a guest, or a
    customer the mirror has not received yet)."""
    if not platform_customer_id:
        return None
    return session.execute(select(Customer.id).where(
        Customer.shop_id == shop.id, Customer.platform_customer_id == platform_customer_id,
        Customer.deleted_at.is_(None))).scalar()


# --- form tokens ---------------------------------------------------------------------------
# A form the widget rendered carries `form_token` = "<issued>.<nonce>.<mac>", bound to the
# store and the profile. It stops another site from making a signed-in shopper's browser
# post a redemption through the store's proxy (cross-site forgery), and its nonce is the
# redemption's idempotency key, so a double-click redeems once.


def _form_mac(shop_id: int, customer_id: int, issued: int, nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    message = f"widget-form|{shop_id}|{customer_id}|{issued}|{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_form_token(shop_id: int, customer_id: int) -> str:
    issued, nonce = int(time.time()), secrets.token_hex(16)
    return f"{issued}.{nonce}.{_form_mac(shop_id, customer_id, issued, nonce)}"


def form_nonce(token: str | None, shop_id: int, customer_id: int) -> str | None:
    """The token's nonce when it is one this store's page gave this profile, recently."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not _NONCE.match(parts[1]):
        return None
    issued = int(parts[0])
    if not 0 <= time.time() - issued <= FORM_TOKEN_SECONDS:
        return None
    expected = _form_mac(shop_id, customer_id, issued, parts[1])
    return parts[1] if hmac.compare_digest(expected.encode(), parts[2].encode()) else None


# --- actions -------------------------------------------------------------------------------

STALE_FORM = Notice("error", "This page is out of date. Reload it and try again.", status=400)


def redeem_reward(session: Session, shop: Shop, customer_id: int,
                  form: dict[str, str]) -> Notice:
    nonce = form_nonce(form.get("form_token"), shop.id, customer_id)
    if nonce is None:
        return STALE_FORM
    raw = (form.get("reward_id") or "").strip()
    if not raw.isdigit() or len(raw) > 18:
        return Notice("error", "Choose a reward to redeem.", status=400)
    reward_id = int(raw)
    session.commit()  # redeem manages its own transactions
    try:
        result = redeem.redeem(session, shop, customer_id, reward_id,
                               idempotency_key=f"widget:{nonce}:{reward_id}")
    except redeem.RedemptionRefused as exc:
        session.rollback()
        return Notice("error", exc.reason, status=exc.status)
    code = result.get("code")
    log.info("loyalty.widget.redeemed", extra={"shop_id": shop.id,
                                                "redemption_id": result.get("id")})
    return Notice("success", "Your reward is ready. Use this code at checkout:", code=code)


def save_birthday(session: Session, shop: Shop, customer_id: int,
                  form: dict[str, str]) -> Notice:
    if form_nonce(form.get("form_token"), shop.id, customer_id) is None:
        return STALE_FORM
    raw = (form.get("birthday") or "").strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return Notice("error", "Enter your birthday as a date, for example 1990-04-21.",
                      status=400)
    if day > date.today():
        return Notice("error", "Your birthday cannot be in the future.", status=400)
    try:
        birthday.set_birthday(session, shop.id, customer_id, day)
        session.commit()
    except birthday.BirthdayRefused as exc:
        session.rollback()
        return Notice("error", str(exc), status=400)
    return Notice("success", f"Thanks! We saved your birthday ({day:%B} {day.day}).")


# --- rendering -----------------------------------------------------------------------------


def render_body(view: dict[str, Any], door: Door, notice: Notice | None = None,
                *, form_token: str | None = None) -> str:
    hidden = dict(door.hidden)
    if form_token:
        hidden["form_token"] = form_token
    return render_template("loyalty/widget_body.html", view=view, door=door, notice=notice,
                           hidden=hidden)


def render_page(view: dict[str, Any], door: Door, notice: Notice | None = None,
                *, form_token: str | None = None, title: str = "Rewards") -> str:
    """A whole HTML document (the embed and the preview)."""
    body = render_body(view, door, notice, form_token=form_token)
    return render_template("loyalty/widget_page.html", body=body, door=door, title=title)


def liquid_safe(html: str) -> str:
    """HTML that Shopify's Liquid renderer leaves as it is. An `application/liquid` answer is
    run as Liquid, so a shopper's name such as "{{ customer.email }}" would be evaluated;
    Sticky's markup uses no Liquid, so every brace becomes its HTML entity, which the
    browser shows as a brace and Liquid ignores."""
    return html.replace("{", "&#123;").replace("}", "&#125;")


def notice_json(notice: Notice) -> dict[str, Any]:
    return {"ok": notice.kind == "success", "message": notice.text, "code": notice.code}
