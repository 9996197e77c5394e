"""The referral landing page a member's link opens: `GET /r/<store id>/<code>` shows who
invited the friend (first name only) and what they get; `POST` with their email makes (or
finds) the referral and shows the friend's code. Public, server-rendered, no script.

No CSRF token: the form carries no ambient authority (no session, no cookie); what a forged
post could do, a friend can do by typing. The client's IP address is `request.remote_addr`
(Sticky installs no proxy fix; behind a reverse proxy, wrap the app in werkzeug's ProxyFix
so this is the shopper's address, not the proxy's: the per-IP fraud check counts on it).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from wtforms import EmailField, Form, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from app.db import db
from app.loyalty.referrals import Invitation, claim, invitation

bp = Blueprint("referrals", __name__)


def _no_nul(_form, field) -> None:
    if field.data and "\x00" in field.data:
        raise ValidationError("This field contains a character no name or email can hold.")


class ClaimForm(Form):
    email = EmailField("Your email", validators=[
        DataRequired("Enter your email to get your code."), Length(max=254), _no_nul,
        Email("Enter an email address such as name@example.com.",
              check_deliverability=False)],
        render_kw={"autocomplete": "email", "inputmode": "email", "required": True})
    first_name = StringField("First name (optional)", validators=[
        Optional(), Length(max=100), _no_nul], render_kw={"autocomplete": "given-name"})
    last_name = StringField("Last name (optional)", validators=[
        Optional(), Length(max=100), _no_nul], render_kw={"autocomplete": "family-name"})


def _store_url(invite: Invitation) -> str:
    shop = invite.shop
    if shop.platform == "woocommerce" and shop.api_base_url:
        return shop.api_base_url
    return f"https://{shop.domain}"


def _page(invite: Invitation | None, form: ClaimForm, *, status: int = 200, **extra):
    if invite is None:
        return render_template("loyalty/referral.html", invite=None, form=form,
                               store_url=None, **extra), 404
    return render_template("loyalty/referral.html", invite=invite, form=form,
                           store_name=invite.shop.name or invite.shop.domain,
                           store_url=_store_url(invite), **extra), status


@bp.get("/r/<int:shop_id>/<code>")
def landing(shop_id: int, code: str):
    return _page(invitation(db.session, shop_id, code), ClaimForm())


@bp.post("/r/<int:shop_id>/<code>")
def claim_offer(shop_id: int, code: str):
    session = db.session
    invite = invitation(session, shop_id, code)
    form = ClaimForm(request.form)
    if invite is None:
        return _page(None, form)
    if not form.validate():
        return _page(invite, form, status=400)
    first, last = (form.first_name.data or "").strip(), (form.last_name.data or "").strip()
    result = claim(session, invite, email=form.email.data.strip(), first_name=first or None,
                   last_name=last or None, ip=request.remote_addr)
    status = {"issued": 200, "blocked": 200, "retry": 503}[result.status]
    return _page(invite, form, status=status, result=result)
