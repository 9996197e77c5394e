"""The demo's panel account: `demo@sticky.local`, linked to the demo store, opened by a
single-use sign-in link that `flask --app app demo` prints (app/accounts/links.py).

Its password is random and never shown: nobody signs in with it, so a demo left running on a
reachable address has no known credential. A used or expired link is replaced with
`./dev flask accounts sign-in-link demo@sticky.local`.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.links import create_sign_in_link
from app.accounts.models import Account
from app.accounts.service import create_account, link_account_to_shop, normalize_email
from app.db import db

DEMO_EMAIL = "demo@sticky.local"


def ensure_demo_account(session: Session, shop_id: int) -> Account:
    """The demo account (created if missing), linked to the demo store. The caller commits."""
    account = session.execute(select(Account).where(
        Account.email_normalized == normalize_email(DEMO_EMAIL))).scalar_one_or_none()
    if account is None:
        account = create_account(session, DEMO_EMAIL, secrets.token_urlsafe(32))
    link_account_to_shop(session, account.id, shop_id)
    return account


def demo_sign_in_url(shop_id: int, base_url: str) -> str:
    """A fresh single-use link that opens the demo store's dashboard, signed in."""
    with db.new_session() as s, s.begin():
        account = ensure_demo_account(s, shop_id)
        return create_sign_in_link(s, account.id, shop_id).url(base_url)
