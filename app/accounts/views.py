"""The standalone panel's sign-in pages: `/admin/signup`, `/admin/login`, `/admin/logout`,
`/admin/stores`. Every POST here carries the session's CSRF token; sign-in and sign-up are
rate-limited (LOGIN_RATE_LIMIT per IP and email, SIGNUP_RATE_LIMIT per IP)."""

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
from app.db import db
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
