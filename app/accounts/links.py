"""Single-use sign-in links (`/admin/sign-in/<token>`): what `flask --app app demo` prints and
`flask --app app accounts sign-in-link EMAIL` mints, so a person at the terminal opens the
panel signed in without a password.

A link is 256 random bits (`secrets.token_urlsafe(32)`). Only its SHA-256 is stored: a copy of
the table opens no session, and there is nothing to brute-force, so a fast hash is enough. It
works once, within `LINK_LIFETIME`. Consuming it is one UPDATE whose WHERE clause requires it
unused and unexpired, so of two simultaneous opens exactly one changes the row: the other
waits for the first one's row lock (PostgreSQL) or write lock (SQLite), then finds it used.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from app.accounts.models import SignInLink
from app.db import utcnow

log = logging.getLogger(__name__)

LINK_LIFETIME = timedelta(minutes=15)
SIGN_IN_PATH = "/admin/sign-in/"
# Used and expired links are kept this long (who signed in, when), then swept.
KEEP_SPENT_LINKS = timedelta(days=7)
# token_urlsafe(32) gives 43 characters of the URL-safe alphabet; anything else is not a link.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class IssuedLink:
    """A link as created: the token in clear exists only here, never in the database."""

    token: str
    account_id: int
    shop_id: int | None
    expires_at: datetime

    def url(self, base_url: str) -> str:
        return sign_in_url(base_url, self.token)


@dataclass(frozen=True)
class ConsumedLink:
    account_id: int
    shop_id: int | None


def sign_in_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{SIGN_IN_PATH}{token}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_token_shaped(token: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(token) is not None


def create_sign_in_link(session: Session, account_id: int, shop_id: int | None = None, *,
                        lifetime: timedelta = LINK_LIFETIME) -> IssuedLink:
    """A new link for the account (opening `shop_id`, if given); the caller commits. The
    caller checks the account may open the store; consuming checks it again."""
    now = utcnow()
    session.execute(delete(SignInLink).where(SignInLink.expires_at < now - KEEP_SPENT_LINKS))
    token = secrets.token_urlsafe(32)
    link = SignInLink(token_hash=token_hash(token), account_id=account_id, shop_id=shop_id,
                      created_at=now, expires_at=now + lifetime)
    session.add(link)
    session.flush()
    log.info("accounts.sign_in_link_created", extra={"account_id": account_id,
                                                     "shop_id": shop_id, "link_id": link.id})
    return IssuedLink(token=token, account_id=account_id, shop_id=shop_id,
                      expires_at=link.expires_at)


def consume_sign_in_link(session: Session, token: str) -> ConsumedLink | None:
    """Mark the link used and say whose it is, or None when it is unknown, used or expired
    (one answer for all three: the page must not tell a guesser which). The caller commits;
    until then a concurrent open of the same link waits, and then gets None."""
    if not is_token_shaped(token):
        return None
    now = utcnow()
    row = session.execute(
        update(SignInLink)
        .where(SignInLink.token_hash == token_hash(token), SignInLink.used_at.is_(None),
               SignInLink.expires_at > now)
        .values(used_at=now)
        .returning(SignInLink.account_id, SignInLink.shop_id)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is None:
        log.info("accounts.sign_in_link_refused")
        return None
    log.info("accounts.sign_in_link_used", extra={"account_id": row.account_id})
    return ConsumedLink(account_id=row.account_id, shop_id=row.shop_id)
