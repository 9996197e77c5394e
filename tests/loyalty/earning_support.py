"""Helpers for the earning, refund and guest-points tests: webhooks in, ledger out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.db import db
from app.events.models import EventCursor
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.loyalty.program import save_program
from app.profiles.models import Customer, Order
from benchmarks.payloads.shopify import BASE_TIME, _money_set
from tests.conftest import post_webhook, run_worker


def enable(shop, **settings: Any) -> None:
    db.session.rollback()
    save_program(db.session, shop.id, {"enabled": True, **settings}, saved_by="test")
    db.session.commit()


def deliver(client, topic: str, payload: dict[str, Any], **kwargs: Any) -> None:
    response = post_webhook(client, topic, payload, **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)


def settle(app) -> None:
    """Run the worker dry, then check the loyalty subscriber failed on nothing."""
    run_worker(app)
    db.session.rollback()
    db.session.expire_all()
    failures = db.session.execute(select(EventCursor.last_error).where(
        EventCursor.subscriber == "loyalty", EventCursor.last_error.is_not(None))).scalars()
    assert list(failures) == []


def entries(shop, customer_id: int | None = None) -> list[Any]:
    """The shop's ledger, oldest first, as plain rows (they outlive the session)."""
    table = LedgerEntry.__table__
    query = select(table).where(table.c.shop_id == shop.id)
    if customer_id is not None:
        query = query.where(table.c.customer_id == customer_id)
    return list(db.session.execute(query.order_by(table.c.id)).all())


def summary(shop, customer_id: int | None = None) -> list[tuple[str, int, str]]:
    return [(e.kind, e.points, e.status) for e in entries(shop, customer_id)]


def customer(shop, email: str) -> Any:
    """The profile with this email, as a plain row."""
    table = Customer.__table__
    return db.session.execute(select(table).where(
        table.c.shop_id == shop.id, table.c.email_normalized == email)).one()


def order_row(shop, platform_id: int | str) -> Any:
    table = Order.__table__
    return db.session.execute(select(table).where(
        table.c.shop_id == shop.id, table.c.platform_order_id == str(platform_id))).one()


def balance(shop, customer_id: int) -> int:
    db.session.expire_all()
    return ledger.balance(db.session, shop.id, customer_id)


def pending(shop, customer_id: int) -> int:
    db.session.expire_all()
    return db.session.get(LoyaltyMember, customer_id).pending_points


def minutes_from_base(moment: datetime | None = None) -> float:
    """`updated=`/`placed=` for the payload builders: minutes after their BASE_TIME."""
    return ((moment or datetime.now(UTC)) - BASE_TIME).total_seconds() / 60


def amounts(payload: dict[str, Any], *, subtotal: str, shipping: str = "0.00",
            tax: str = "0.00", discounts: str = "0.00", total: str | None = None) -> dict:
    """Set a Shopify order payload's money: `subtotal` is after discounts (as Shopify's
    `subtotal_price` is); the total is subtotal + shipping + tax unless given."""
    total = total or str(Decimal(subtotal) + Decimal(shipping) + Decimal(tax))
    payload.update(
        subtotal_price=subtotal, subtotal_price_set=_money_set(subtotal),
        total_price=total, total_price_set=_money_set(total),
        current_total_price=total, current_total_price_set=_money_set(total),
        total_tax=tax, total_tax_set=_money_set(tax),
        total_discounts=discounts, total_discounts_set=_money_set(discounts),
        total_shipping_price_set=_money_set(shipping))
    return payload
