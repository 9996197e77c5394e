"""The links in flow emails: open pixel, click redirect and the unsubscribe page.

- `GET /t/o/<token>`: records an open; answers a 1×1 transparent GIF that no cache keeps.
  (A HEAD request, as link checkers send, records nothing, here and for clicks.)
- `GET /t/c/<token>`: records a click (and the open it implies); redirects (302) to the
  link the token carries. The token is signed, so this is no open redirect: only links
  Sticky put in an email lead anywhere.
- `GET /unsubscribe/<token>`: a page asking to confirm, with one button (a GET must change
  nothing: mail scanners and link previews follow links).
- `POST /unsubscribe/<token>`: unsubscribes (app/flows/unsubscribe.py). This is also the
  RFC 8058 one-click endpoint that mailbox providers POST `List-Unsubscribe=One-Click` to:
  no sign-in and no CSRF token (there is no session to ride on; the signed token is the
  authority, and unsubscribing someone is all it can do).

A token carries only a message id (and, for a click, the link), so a link reveals nothing
about anyone. A bad or cut token gets a page in words with a 404, never a 500. The shopper's
address is shown masked, in case the email was forwarded.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, redirect, render_template, request
from sqlalchemy import select

from app.db import db
from app.email import tokens
from app.flows import engagement
from app.flows import unsubscribe as unsubscribing
from app.profiles.models import UNSUBSCRIBED, Customer
from app.shops.models import Shop

log = logging.getLogger(__name__)

bp = Blueprint("email_tracking", __name__)

# The smallest transparent GIF (43 bytes).
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00"
         b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
            "Pragma": "no-cache", "Expires": "0"}
TOKEN_MAX = 4096


def _load(kind: str, token: str):
    if len(token) > TOKEN_MAX:
        return None
    try:
        return tokens.load(kind, token)
    except tokens.TokenInvalid:
        return None


def _invalid(what: str):
    return render_template("email_pages/link.html", title="This link does not work",
                           reason=f"This {what} link is not valid: it may have been cut or "
                                  "changed when it was copied. Try the link in the email "
                                  "itself."), 404


@bp.get("/t/o/<token>")
def open_pixel(token: str):
    message_pk = _load("open", token)
    if message_pk is None:
        return _invalid("tracking")
    if request.method != "HEAD":  # a link checker asking about the image is no open
        engagement.record(db.session, message_pk, engagement.OPEN)
    return Response(PIXEL, mimetype="image/gif", headers=NO_CACHE)


@bp.get("/t/c/<token>")
def click(token: str):
    payload = _load("click", token)
    if not (isinstance(payload, list) and len(payload) == 2 and isinstance(payload[1], str)
            and payload[1].lower().startswith(("http://", "https://"))):
        return _invalid("email")
    message_pk, url = payload
    if request.method != "HEAD":  # a link checker looking ahead is no click
        engagement.record(db.session, message_pk, engagement.CLICK, url=url)
    response = redirect(url, code=302)
    response.headers.update(NO_CACHE)
    return response


def _mask(email: str | None) -> str:
    """maya@example.com → m***@example.com: enough to recognise, not to learn."""
    if not email or "@" not in email:
        return "your address"
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _unknown_link(message_pk):
    if message_pk == 0:
        return render_template(
            "email_pages/link.html", title="This is a test email",
            reason="This unsubscribe link comes from a test email sent from Sticky's editor, "
                   "so there is nobody to unsubscribe."), 200
    return render_template(
        "email_pages/link.html", title="This unsubscribe link no longer works",
        reason="The email it came from no longer exists. To stop receiving emails, reply to "
               "one of the store's emails or contact the store."), 404


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str):
    message_pk = _load("unsubscribe", token)
    if message_pk is None:
        return _invalid("unsubscribe")
    session = db.session
    message = unsubscribing.message_for(session, message_pk)
    if message is None:
        return _unknown_link(message_pk)
    shop = session.get(Shop, message.shop_id)
    customer = None
    if message.customer_id is not None:
        customer = session.scalar(select(Customer).where(
            Customer.shop_id == message.shop_id, Customer.id == message.customer_id))
    already = customer is not None and customer.email_marketing == UNSUBSCRIBED
    return render_template("email_pages/unsubscribe.html", done=already, changed=False,
                           store=unsubscribing.store_name(shop) if shop else "this store",
                           email=_mask(message.to_email))


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    message_pk = _load("unsubscribe", token)
    if message_pk is None:
        return _invalid("unsubscribe")
    result = unsubscribing.unsubscribe(db.session, message_pk)
    if result is None:
        return _unknown_link(message_pk)
    return render_template("email_pages/unsubscribe.html", done=True, changed=result.changed,
                           store=result.shop_name, email=_mask(result.email))
