"""A store's latest activity: its newest timeline facts, each as a sentence about a shopper.

Read from `timeline_events` by its (shop_id, occurred_at) index, newest first, with the
profile's name and email. The sentence is what follows the shopper's name ("placed order
#1001 ($30.00)"); the panel links the name to the profile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.events import domain as kinds
from app.money import money_text
from app.profiles.models import Customer, TimelineEvent
from app.shops.models import Shop


@dataclass(frozen=True)
class Activity:
    id: int
    kind: str
    occurred_at: datetime
    customer_id: int
    name: str | None
    email: str | None
    summary: str

    @property
    def who(self) -> str:
        return self.name or self.email or "A customer"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind,
                "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
                "customer": {"id": self.customer_id, "name": self.name, "email": self.email},
                "summary": self.summary}


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _order(data: dict[str, Any]) -> str:
    name = _text(data, "name")
    return f"order {name}" if name else "an order"


def _amount(data: dict[str, Any], key: str, currency: str) -> str:
    value = _text(data, key)
    shown = money_text(value, _text(data, "currency") or currency) if value else "—"
    return "" if shown == "—" else f" ({shown})"


def _consent(data: dict[str, Any], _ref: str, _currency: str) -> str:
    return {"subscribed": "subscribed to email marketing",
            "unsubscribed": "unsubscribed from email marketing"}.get(
        _text(data, "email_marketing") or "", "is no longer subscribed to email marketing")


def _refund(data: dict[str, Any], _ref: str, currency: str) -> str:
    amount = _amount(data, "amount", currency).strip(" ()")
    return f"was refunded {amount or 'an amount'} on {_order(data)}"


def _abandoned(data: dict[str, Any], ref: str, currency: str) -> str:
    what = "a cart" if ref.startswith("cart:") else "a checkout"
    return f"left {what} unfinished{_amount(data, 'total_price', currency)}"


_SENTENCES: dict[str, Callable[[dict[str, Any], str, str], str]] = {
    kinds.CUSTOMER_CREATED: lambda d, ref, c: (
        "was first seen, checking out as a guest" if ref.startswith("guest:")
        else "created a customer account"),
    kinds.ORDER_PLACED: lambda d, ref, c: f"placed {_order(d)}{_amount(d, 'total_price', c)}",
    kinds.ORDER_PAID: lambda d, ref, c: f"paid for {_order(d)}",
    kinds.ORDER_FULFILLED: lambda d, ref, c: f"had {_order(d)} fulfilled",
    kinds.ORDER_CANCELLED: lambda d, ref, c: f"had {_order(d)} cancelled",
    kinds.REFUND_CREATED: _refund,
    kinds.CHECKOUT_STARTED: lambda d, ref, c: (
        f"started a checkout{_amount(d, 'total_price', c)}"),
    kinds.CART_ABANDONED: _abandoned,
    kinds.EMAIL_MARKETING_CHANGED: _consent,
}


def summary(kind: str, ref: str, data: dict[str, Any] | None, currency: str) -> str:
    """The sentence for one timeline fact, after the shopper's name."""
    sentence = _SENTENCES.get(kind)
    if sentence is None:
        return kind.replace("_", " ")
    return sentence(data if isinstance(data, dict) else {}, ref, currency)


def latest_activity(session: Session, shop: Shop, *, limit: int = 10) -> list[Activity]:
    """The store's newest timeline facts (none dated in the future: a platform's clock
    error must not pin a fact to the top)."""
    t, c = TimelineEvent, Customer
    rows = session.execute(
        select(t.id, t.kind, t.ref, t.occurred_at, t.data, t.customer_id, c.first_name,
               c.last_name, c.email)
        .join(c, c.id == t.customer_id)
        .where(t.shop_id == shop.id, c.shop_id == shop.id, t.occurred_at <= utcnow())
        .order_by(t.occurred_at.desc(), t.id.desc())
        .limit(limit)
    ).all()
    return [Activity(row.id, row.kind, row.occurred_at, row.customer_id,
                     " ".join(part for part in (row.first_name, row.last_name) if part) or None,
                     row.email, summary(row.kind, row.ref, row.data, shop.currency))
            for row in rows]
