"""The standalone panel's sign-in pages: `/admin/signup`, `/admin/login`, `/admin/logout`,
`/admin/stores`, and single-use sign-in links (`/admin/sign-in/<token>`, app/accounts/links.py).
Every POST here carries the session's CSRF token; sign-in, sign-up and sign-in links are
rate-limited (LOGIN_RATE_LIMIT per IP and email, SIGNUP_RATE_LIMIT and
SIGN_IN_LINK_RATE_LIMIT per IP)."""

from __future__ import annotations

import functools
import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError

from app.accounts import csrf, limiter
from app.accounts.links import LINK_LIFETIME, consume_sign_in_link, is_token_shaped
from app.accounts.models import Account
from app.accounts.service import (
    SESSION_SHOP,
    AccountError,
    authenticate,
    create_account,
    current_account,
    linked_shop,
    normalize_email,
    sign_in,
    sign_out,
    stores_for,
)
from app.db import db, utcnow
from app.routing import field_with_nul, parse_id

log = logging.getLogger(__name__)

bp = Blueprint("accounts", __name__, url_prefix="/admin")


@bp.app_context_processor
def panel_globals():
    # panel/base.html shows who is signed in, on any page that extends it.
    return {"current_account": current_account}


@bp.before_request
def protect_forms():
    # Opt-in CSRF (see app/accounts/__init__.py): every state-changing request of the panel.
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    # NUL cannot be stored or looked up in PostgreSQL: refuse it before any query does.
    if field_with_nul(request.args, request.form) is not None:
        return render_template("accounts/error.html", title="This form contains an invalid "
                               "character", reason="One of the fields contains a NUL "
                               "character, which no email, password or name can hold.",
                               advice="Go back, retype the field and try again."), 400
    return None


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    log.info("accounts.csrf_failed", extra={"reason": exc.description, "path": request.path})
    return render_template("accounts/error.html", title="This form has expired",
                           reason=exc.description,
                           advice="For your security, forms stop working when the page was "
                                  "opened in another session or too long ago. Go back, reload "
                                  "the page and try again."), 400


@bp.errorhandler(RateLimitExceeded)
def rate_limited(exc: RateLimitExceeded):
    log.warning("accounts.rate_limited", extra={"path": request.path, "limit": str(exc.limit)})
    response = current_app.make_response((render_template(
        "accounts/error.html", title="Too many attempts",
        reason=f"Attempts are limited to {exc.description} from one connection.",
        advice="To protect accounts from password guessing, sign-in pauses after repeated "
               "attempts. Wait a minute and try again; if you forgot your password, ask the "
               "person who runs Sticky to reset it with `flask --app app accounts "
               "set-password`."), 429))
    return response


def _login_limit_key() -> str:
    # Per connection and per email: one attacker cannot lock a merchant out from elsewhere
    # by guessing, and one IP cannot spray many accounts faster than the hourly cap.
    return f"login:{get_remote_address()}:{normalize_email(request.form.get('email'))}"


def _signup_limit_key() -> str:
    return f"signup:{get_remote_address()}"


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if current_account() is None:
            flash("Sign in to continue.", "info")
            return redirect(url_for("accounts.login"))
        return view(*args, **kwargs)

    return wrapped


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["SIGNUP_RATE_LIMIT"], key_func=_signup_limit_key,
               methods=["POST"])
def signup():
    if current_account() is not None:
        return redirect(url_for("accounts.stores"))
    email = (request.form.get("email") or "").strip()
    if request.method == "POST":
        password = request.form.get("password") or ""
        try:
            if password != (request.form.get("password_confirm") or ""):
                raise AccountError("The two passwords do not match.")
            account = create_account(db.session, email, password)
            db.session.commit()
        except AccountError as exc:
            db.session.rollback()
            return render_template("accounts/signup.html", email=email, error=str(exc)), 400
        sign_in(account)
        flash("Your account is ready. Connect your WooCommerce store to start.", "success")
        return redirect(url_for("accounts.stores"))
    return render_template("accounts/signup.html", email=email, error=None)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_limit_key,
               methods=["POST"])
def login():
    if request.method == "GET" and current_account() is not None:
        return redirect(url_for("accounts.stores"))
    email = (request.form.get("email") or "").strip()
    if request.method == "POST":
        account = authenticate(db.session, email, request.form.get("password") or "")
        db.session.commit()  # keeps the failed-attempt count and last sign-in time
        if account is None:
            # One message for both cases: the page does not reveal which emails have accounts.
            return render_template("accounts/login.html", email=email,
                                   error="That email and password do not match an account."), 401
        sign_in(account)
        log.info("accounts.login", extra={"account_id": account.id})
        return redirect(url_for("accounts.stores"))
    return render_template("accounts/login.html", email=email, error=None)


@bp.post("/logout")
def logout():
    sign_out(db.session)
    flash("You are signed out.", "info")
    return redirect(url_for("accounts.login"))


@bp.get("/stores")
@login_required
def stores():
    account = current_account()
    assert account is not None
    return render_template("accounts/stores.html", account=account,
                           stores=stores_for(db.session, account.id),
                           selected_shop_id=session.get(SESSION_SHOP))


@bp.post("/stores/select")
@login_required
def select_store():
    account = current_account()
    assert account is not None
    shop_id = parse_id(request.form.get("shop_id") or "")  # None for junk or past 2^63
    shop = linked_shop(db.session, account.id, shop_id) if shop_id else None
    if shop is None:
        return render_template("accounts/error.html", title="Store not available",
                               reason="Your account is not linked to that store.",
                               advice="Choose one of the stores listed on the Stores page, or "
                                      "connect the store first."), 403
    session[SESSION_SHOP] = shop.id
    return redirect(url_for("panel.dashboard"))


def _sign_in_link_limit_key() -> str:
    return f"sign-in-link:{get_remote_address()}"


def _private(response):
    # The token is in the URL: keep it out of caches and out of the next page's Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _dead_link(token: str):
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    new_link = ("Ask for a new one: on the machine running Sticky, run `./dev flask accounts "
                "sign-in-link EMAIL` (`./dev demo` prints a fresh one each time it starts). "
                "If your account has a password, sign in with it instead.")
    if not is_token_shaped(token):
        # Most often a link cut in two when copied from a terminal that wrapped it.
        page = render_template(
            "accounts/error.html", title="This sign-in link is incomplete",
            reason="The link does not end with a whole sign-in code; part of it may have been "
                   "lost when it was copied.",
            advice=f"Copy the whole link and open it again. {new_link}")
        return current_app.make_response((page, 400))
    page = render_template(
        "accounts/error.html", title="This sign-in link has expired or was already used",
        reason=f"A sign-in link works once, within {minutes} minutes of being made.",
        advice=new_link)
    return current_app.make_response((page, 410))


@bp.get("/sign-in/<token>")
@limiter.limit(lambda: current_app.config["SIGN_IN_LINK_RATE_LIMIT"],
               key_func=_sign_in_link_limit_key)
def sign_in_with_link(token: str):
    """Open a single-use sign-in link: sign its account in, select its store, go to the
    dashboard. A link that is malformed (400), or unknown, used or expired (410, one page for
    the three), says what to do instead."""
    link = consume_sign_in_link(db.session, token)
    account = db.session.get(Account, link.account_id) if link else None
    if link is None or account is None:
        db.session.rollback()
        return _private(_dead_link(token))
    shop = linked_shop(db.session, account.id, link.shop_id) if link.shop_id else None
    account.last_login_at = utcnow()
    db.session.commit()  # the link is spent before any session uses it
    sign_in(account)
    log.info("accounts.login", extra={"account_id": account.id, "via": "sign_in_link"})
    if shop is None:
        flash("Choose the store to work on.", "info")
        return _private(redirect(url_for("accounts.stores")))
    session[SESSION_SHOP] = shop.id
    return _private(redirect(url_for("panel.dashboard")))
