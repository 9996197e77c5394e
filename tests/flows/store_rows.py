"""Small hand-made stores for the built-in flows' tests: profiles and orders written as rows,
so each test can state its expected answer by hand."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from app.profiles.models import SUBSCRIBED, Customer, Order, OrderLine

_ids = itertools.count(1001)


def customer(session: Session, shop_id: int, name: str, *, email: bool = True,
             deleted_at: datetime | None = None) -> Customer:
    row = Customer(shop_id=shop_id, platform_customer_id=f"c-{name}-{next(_ids)}",
                   email=f"{name}@example.com" if email else None,
                   email_normalized=f"{name}@example.com" if email else None,
                   first_name=name.capitalize(), email_marketing=SUBSCRIBED,
                   deleted_at=deleted_at)
    session.add(row)
    session.flush()
    return row


def order(session: Session, shop_id: int, who: Customer | None, placed_at: datetime, *,
          lines: list[tuple[str, str]] = (), platform_id: str | None = None,
          cancelled: bool = False, total: str = "50.00") -> Order:
    """An order (with lines as (product_id, title)); keeps the profile's figures as the
    profile store would (cancelled orders do not count)."""
    row = Order(shop_id=shop_id, customer_id=who.id if who else None,
                platform_order_id=platform_id or f"o-{next(_ids)}", name=f"#{next(_ids)}",
                currency="USD", total_price=Decimal(total), placed_at=placed_at,
                cancelled_at=placed_at + timedelta(hours=1) if cancelled else None,
                financial_status="paid")
    session.add(row)
    session.flush()
    for product_id, title in lines:
        session.add(OrderLine(shop_id=shop_id, order_id=row.id, product_id=product_id,
                              title=title, quantity=1, price=Decimal("10.00")))
    if who is not None and not cancelled:
        who.orders_count = (who.orders_count or 0) + 1
        who.first_order_at = min(filter(None, [who.first_order_at, placed_at]))
        who.last_order_at = max(filter(None, [who.last_order_at, placed_at]))
    session.flush()
    return row
