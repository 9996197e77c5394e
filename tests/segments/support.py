"""Building a store's customers, orders and tags for the segment tests, from plain dicts."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.customers.models import CustomerTag
from app.profiles.models import Customer, Order, OrderLine
from app.shops.models import Shop

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TITLES = {"p1": "Blue Mug", "p2": "Tea Pot", "p3": "Gift Card"}
_serial = itertools.count(1)


def clear(session: Session) -> None:
    for table in (OrderLine, Order, CustomerTag, Customer):
        session.execute(delete(table))


def person(**fields: Any) -> dict[str, Any]:
    """A customer as a dict, with the defaults a fresh profile has."""
    values: dict[str, Any] = {
        "total_spent": Decimal("0"), "orders_count": 0, "average_order_value": None,
        "first_order_at": None, "last_order_at": None, "country_code": None,
        "email_marketing": "not_subscribed", "tier": None, "points_balance": 0,
        "rfm_segment": None, "churn_risk": None, "predicted_clv": None, "tags": None,
        "deleted_at": None, "merchant_tags": [], "orders": []}
    values.update(fields)
    return values


def store(session: Session, shop: Shop, people: list[dict[str, Any]]) -> list[Customer]:
    """Insert the people (with their orders, lines and merchant tags); returns the rows."""
    rows = []
    for p in people:
        n = next(_serial)
        columns = {k: v for k, v in p.items() if k not in ("merchant_tags", "orders")}
        customer = Customer(shop_id=shop.id, platform_customer_id=str(9_000_000 + n),
                            email=f"c{n}@example.com", email_normalized=f"c{n}@example.com",
                            first_name=f"C{n}", created_at=NOW, **columns)
        session.add(customer)
        session.flush()
        for tag in p["merchant_tags"]:
            session.add(CustomerTag(shop_id=shop.id, customer_id=customer.id, tag=tag,
                                    tag_normalized=tag.lower()))
        for i, order in enumerate(p["orders"]):
            row = Order(shop_id=shop.id, customer_id=customer.id,
                        platform_order_id=f"{n}-{i}", currency="USD",
                        placed_at=NOW, test=order.get("test", False),
                        cancelled_at=NOW if order.get("cancelled") else None)
            session.add(row)
            session.flush()
            for product in order.get("lines", []):
                session.add(OrderLine(shop_id=shop.id, order_id=row.id, product_id=product,
                                      title=TITLES.get(product, product)))
        rows.append(customer)
    session.flush()
    return rows
