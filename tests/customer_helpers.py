"""Helpers for the customer pages' tests: profile rows with chosen figures, a signed-in
standalone panel client, and API credentials."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jwt
from sqlalchemy.orm import Session

from app.accounts.service import create_account, link_account_to_shop
from app.profiles.models import Customer
from app.shops.models import Shop
from app.shops.service import create_api_key
from tests.conftest import SHOPIFY_KEY, SHOPIFY_SECRET

PASSWORD = "correct horse battery"
_serial = iter(range(1, 10**9))


def customer_row(session: Session, shop: Shop, **fields: Any) -> Customer:
    """A profile as the profile store would hold it; figures as given (default: no orders)."""
    n = next(_serial)
    values: dict[str, Any] = {
        "platform_customer_id": str(7_000_000_000_000 + n),
        "email": f"person{n}@example.com",
        "first_name": f"Person{n}",
        "last_name": "Example",
        "email_marketing": "not_subscribed",
        "orders_count": 0,
        "total_spent": Decimal("0"),
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(fields)
    if "email_normalized" not in fields:
        values["email_normalized"] = values["email"].lower() if values["email"] else None
    customer = Customer(shop_id=shop.id, **values)
    session.add(customer)
    session.flush()
    return customer


def csrf_from(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, session: Session, shop: Shop, email: str = "merchant@example.com"):
    """Sign a standalone panel client in and select `shop`; returns the account."""
    account = create_account(session, email, PASSWORD)
    link_account_to_shop(session, account.id, shop.id)
    session.commit()
    token = csrf_from(client, "/admin/login")
    assert client.post("/admin/login", data={"email": email, "password": PASSWORD,
                                             "csrf_token": token}).status_code == 302
    token = csrf_from(client, "/admin/stores")
    assert client.post("/admin/stores/select", data={"shop_id": shop.id,
                                                     "csrf_token": token}).status_code == 302
    return account


def api_key_headers(session: Session, shop: Shop) -> dict[str, str]:
    _, key = create_api_key(session, shop)
    session.commit()
    return {"Authorization": f"Bearer {key}"}


def session_token(shop_domain: str) -> str:
    """A session token as App Bridge makes it (signed with the app's secret)."""
    now = time.time()
    dest = f"https://{shop_domain}"
    return jwt.encode({"iss": f"{dest}/admin", "dest": dest, "aud": SHOPIFY_KEY, "sub": "42",
                       "exp": int(now + 60), "nbf": int(now - 5), "iat": int(now - 5),
                       "jti": "0c8f3e1e-2d8a-4b8e-9d1e-1f2a3b4c5d6e", "sid": "s-1"},
                      SHOPIFY_SECRET, algorithm="HS256")

