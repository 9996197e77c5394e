"""Accounts: create, authenticate, link to stores, and who is signed in to this request.

Passwords are hashed with werkzeug.security's scrypt (memory-hard, salted, and already a
dependency of Flask: no extra package, unlike argon2-cffi). Sign-in takes the same time for an
unknown email as for a wrong password (a dummy hash is checked), so timing does not reveal
which emails have accounts.

The session is Flask's signed cookie. It holds the account id and the account's
`session_version`; signing out bumps the version, so every copy of the old cookie stops
working, which a client-side session cannot otherwise promise.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from flask import current_app, g, session
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.accounts.models import ROLE_OWNER, Account, AccountShop
from app.db import db, insert_for, utcnow
from app.shops.models import Shop

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
# scrypt hashes the whole input: refuse megabyte "passwords" rather than burn CPU on them.
MAX_PASSWORD_LENGTH = 1024
SESSION_ACCOUNT = "account_id"
SESSION_VERSION = "account_version"
SESSION_SHOP = "shop_id"

_dummy_hash: str | None = None


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message is safe to show."""


@dataclass(frozen=True)
class StoreAccess:
    shop: Shop
    role: str


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()


def _valid_email(email: str) -> bool:
    local, _, domain = email.rpartition("@")
    # isprintable() is False for spaces other than " " and for control characters (NUL...).
    return bool(local) and "." in domain.strip(".") and " " not in email \
        and email.isprintable() and len(email) <= 320


def check_new_password(email: str, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"Passwords are limited to {MAX_PASSWORD_LENGTH} characters.")
    if normalize_email(password) == normalize_email(email):
        raise AccountError("Your password must not be your email address.")


def check_new_email(db_session: Session, email: str) -> None:
    """AccountError when `email` cannot open a new account (invalid, or already taken): what
    a form or the CLI can say before asking for a password."""
    email_n = normalize_email(email)
    if not _valid_email(email_n):
        raise AccountError("Enter a valid email address.")
    taken = db_session.execute(
        select(Account.id).where(Account.email_normalized == email_n)).first()
    if taken is not None:
        raise AccountError("An account with this email already exists. Sign in instead.")


def create_account(db_session: Session, email: str, password: str) -> Account:
    """A new account; AccountError when the email is invalid, taken, or the password weak."""
    email = (email or "").strip()
    email_n = normalize_email(email)
    if not _valid_email(email_n):
        raise AccountError("Enter a valid email address.")
    check_new_password(email, password)
    account = Account(email=email, email_normalized=email_n,
                      password_hash=generate_password_hash(password), session_version=1,
                      failed_logins=0, created_at=utcnow())
    try:
        with db_session.begin_nested():
            db_session.add(account)
            db_session.flush()
    except IntegrityError as exc:
        raise AccountError("An account with this email already exists. Sign in instead.") \
            from exc
    log.info("accounts.created", extra={"account_id": account.id})
    return account


def _constant_time_miss(password: str) -> None:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash(secrets.token_urlsafe(16))
    check_password_hash(_dummy_hash, password)


def authenticate(db_session: Session, email: str, password: str) -> Account | None:
    """The account for these credentials, or None. Same work whether or not the email exists."""
    password = password or ""
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    account = db_session.execute(
        select(Account).where(Account.email_normalized == normalize_email(email))
    ).scalar_one_or_none()
    if account is None:
        _constant_time_miss(password)
        log.info("accounts.login_failed", extra={"reason": "unknown_email"})
        return None
    if not check_password_hash(account.password_hash, password):
        account.failed_logins += 1
        account.last_failed_login_at = utcnow()
        log.info("accounts.login_failed", extra={"reason": "bad_password",
                                                 "account_id": account.id})
        return None
    account.failed_logins = 0
    account.last_login_at = utcnow()
    return account


def set_password(account: Account, password: str) -> None:
    check_new_password(account.email, password)
    account.password_hash = generate_password_hash(password)
    account.session_version += 1  # a new password signs out every other session


def link_account_to_shop(db_session: Session, account_id: int, shop_id: int,
                         role: str = ROLE_OWNER) -> None:
    """Let the account open the store (idempotent). Called when a connect handshake succeeds."""
    db_session.execute(
        insert_for(db_session, AccountShop)
        .values(account_id=account_id, shop_id=shop_id, role=role, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["account_id", "shop_id"])
    )
    log.info("accounts.store_linked", extra={"account_id": account_id, "shop_id": shop_id})


def stores_for(db_session: Session, account_id: int) -> list[StoreAccess]:
    rows = db_session.execute(
        select(Shop, AccountShop.role).join(AccountShop, AccountShop.shop_id == Shop.id)
        .where(AccountShop.account_id == account_id).order_by(Shop.domain)
    ).all()
    return [StoreAccess(shop=shop, role=role) for shop, role in rows]


def linked_shop(db_session: Session, account_id: int, shop_id: int) -> Shop | None:
    """The store if this account is linked to it (and it is still connected), else None."""
    return db_session.execute(
        select(Shop).join(AccountShop, AccountShop.shop_id == Shop.id)
        .where(AccountShop.account_id == account_id, Shop.id == shop_id,
               Shop.status == "active")
    ).scalar_one_or_none()


# -- the signed-in account of this request ---------------------------------------------


def sign_in(account: Account) -> None:
    """Start a fresh session: nothing from before sign-in survives (fixation defence), and the
    CSRF token is regenerated with it."""
    _clear_session()
    session.permanent = True
    session[SESSION_ACCOUNT] = account.id
    session[SESSION_VERSION] = account.session_version


def sign_out(db_session: Session) -> None:
    account = current_account()
    if account is not None:
        account.session_version += 1
        db_session.commit()
    _clear_session()


def _clear_session() -> None:
    session.clear()
    # Flask-WTF caches this request's CSRF token on `g`; drop it with the session's raw token
    # so any token issued from here on belongs to the new session.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)


def current_account() -> Account | None:
    """The account signed in to this request's session, or None.

    Not cached on `g`: an app context may outlive one request (tests, CLI), and the primary
    key lookup is answered from the ORM session's identity map after the first call.
    """
    account_id = session.get(SESSION_ACCOUNT)
    if not isinstance(account_id, int):
        return None
    account = db.session.get(Account, account_id)
    if account is None or account.session_version != session.get(SESSION_VERSION):
        return None
    return account


def session_shop() -> Shop | None:
    """The store selected in the panel session, if the signed-in account may open it."""
    account = current_account()
    shop_id = session.get(SESSION_SHOP)
    if account is None or not isinstance(shop_id, int):
        return None
    return linked_shop(db.session, account.id, shop_id)
