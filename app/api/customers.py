"""`GET /api/customers` and `GET /api/customers/<id>` (shapes fixed in DESIGN.md)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.api import bp
from app.db import db
from app.money import format_money
from app.profiles.models import Cart, Customer, Order, OrderLine, Refund, TimelineEvent
from app.profiles.service import normalize_email
from app.shops.models import Shop

PAGE_SIZE = 50
MAX_PAGE_SIZE = 250


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def customer_json(c: Customer, shop: Shop) -> dict[str, Any]:
    return {
        "id": c.id,
        "platform_id": c.platform_customer_id,
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "orders_count": c.orders_count,
        "total_spent": format_money(c.total_spent, shop.currency),
        "average_order_value": format_money(c.average_order_value, shop.currency),
        "currency": shop.currency,
        "first_order_at": _iso(c.first_order_at),
        "last_order_at": _iso(c.last_order_at),
        "points_balance": c.points_balance,
        "tier": c.tier,
        "email_marketing": c.email_marketing,
        "rfm_segment": c.rfm_segment,
        "churn_risk": c.churn_risk,
        "predicted_clv": format_money(c.predicted_clv, shop.currency),
        "is_guest": c.platform_customer_id is None,
        "deleted": c.deleted_at is not None,
        "created_at": _iso(c.created_at),
    }


def _bad_request(message: str):
    return jsonify({"status": 400, "message": message}), 400


def _int_arg(name: str, default: int, lo: int, hi: int) -> int | str:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        return f"{name} must be a whole number"
    if not lo <= value <= hi:
        return f"{name} must be between {lo} and {hi}"
    return value


@bp.get("/customers")
def list_customers():
    shop: Shop = g.shop
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", PAGE_SIZE, 1, MAX_PAGE_SIZE)
    if isinstance(page, str):
        return _bad_request(page)
    if isinstance(per_page, str):
        return _bad_request(per_page)
    query = select(Customer).where(Customer.shop_id == shop.id, Customer.deleted_at.is_(None))
    email = request.args.get("email", "").strip()
    if email:
        query = query.where(Customer.email_normalized == normalize_email(email))
    q = request.args.get("q", "").strip()
    if q:
        # A substring match: autoescape makes `%`, `_` (and the escape character itself)
        # mean themselves, on PostgreSQL and SQLite alike.
        needle = q.lower()
        query = query.where(or_(
            Customer.email_normalized.contains(needle, autoescape=True),
            func.lower(Customer.first_name).contains(needle, autoescape=True),
            func.lower(Customer.last_name).contains(needle, autoescape=True),
            func.lower(func.coalesce(Customer.first_name, "") + " "
                       + func.coalesce(Customer.last_name, "")).contains(needle,
                                                                         autoescape=True),
        ))
    segment = request.args.get("segment", "").strip()
    if segment:
        query = query.where(Customer.rfm_segment == segment)
    session: Session = db.session
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(Customer.last_order_at.desc().nulls_last(), Customer.id.desc())
        .limit(per_page).offset((page - 1) * per_page)
    ).scalars().all()
    return jsonify({
        "customers": [customer_json(c, shop) for c in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    })


@bp.get("/customers/<int:customer_id>")
def get_customer(customer_id: int):
    shop: Shop = g.shop
    session: Session = db.session
    customer = session.execute(
        select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop.id)
    ).scalar_one_or_none()
    if customer is None:
        return jsonify({"status": 404, "message": f"no customer {customer_id} in this store"}), 404

    orders = session.execute(
        select(Order).where(Order.shop_id == shop.id, Order.customer_id == customer.id)
        .order_by(Order.placed_at.desc()).limit(250)
    ).scalars().all()
    order_ids = [o.id for o in orders]
    lines: dict[int, list[dict[str, Any]]] = {}
    if order_ids:
        for line in session.execute(
            select(OrderLine).where(OrderLine.shop_id == shop.id,
                                    OrderLine.order_id.in_(order_ids))
            .order_by(OrderLine.id)
        ).scalars():
            lines.setdefault(line.order_id, []).append({
                "title": line.title, "variant_title": line.variant_title, "sku": line.sku,
                "quantity": line.quantity, "price": format_money(line.price, shop.currency),
                "product_id": line.product_id, "variant_id": line.variant_id,
            })
    refunds: dict[str, list[dict[str, Any]]] = {}
    if orders:
        for refund in session.execute(
            select(Refund).where(Refund.shop_id == shop.id, Refund.platform_order_id.in_(
                [o.platform_order_id for o in orders]))
        ).scalars():
            refunds.setdefault(refund.platform_order_id, []).append({
                "id": refund.platform_refund_id,
                "amount": format_money(refund.amount, shop.currency),
                "refunded_at": _iso(refund.refunded_at), "note": refund.note,
            })
    timeline = session.execute(
        select(TimelineEvent).where(TimelineEvent.shop_id == shop.id,
                                    TimelineEvent.customer_id == customer.id)
        .order_by(TimelineEvent.occurred_at.desc(), TimelineEvent.id.desc()).limit(200)
    ).scalars().all()
    carts = session.execute(
        select(Cart).where(Cart.shop_id == shop.id, Cart.customer_id == customer.id)
        .order_by(Cart.platform_updated_at.desc()).limit(50)
    ).scalars().all()

    body = customer_json(customer, shop)
    body.update({
        "phone": customer.phone,
        "city": customer.city,
        "country_code": customer.country_code,
        "tags": customer.tags,
        "orders": [{
            "id": o.id,
            "platform_id": o.platform_order_id,
            "name": o.name,
            "placed_at": _iso(o.placed_at),
            "total_price": format_money(o.total_price, o.currency),
            "total_refunded": format_money(o.total_refunded, o.currency),
            "currency": o.currency,
            "financial_status": o.financial_status,
            "fulfillment_status": o.fulfillment_status,
            "cancelled_at": _iso(o.cancelled_at),
            "discount_codes": o.discount_codes or [],
            "line_items": lines.get(o.id, []),
            "refunds": refunds.get(o.platform_order_id, []),
        } for o in orders],
        "carts": [{
            "id": c.id, "kind": c.kind, "status": c.status,
            "total_price": format_money(c.total_price, c.currency or shop.currency),
            "currency": c.currency or shop.currency, "recovery_url": c.recovery_url,
            "updated_at": _iso(c.platform_updated_at), "line_items": c.line_items or [],
        } for c in carts],
        "timeline": [{
            "kind": t.kind, "occurred_at": _iso(t.occurred_at), "ref": t.ref, "data": t.data,
        } for t in timeline],
        "points_ledger": [],
        "messages": [],
    })
    return jsonify(body)
