"""Customers as JSON, in the shapes DESIGN.md fixes for `/api/customers` (C) and
`/api/customers/<id>` (C plus orders, carts, timeline, notes, merchant tags, ledgers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.customers.models import CustomerNote, CustomerTag
from app.customers.profile import Profile
from app.money import format_money
from app.profiles.models import Customer
from app.shops.models import Shop


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def customer_json(c: Customer, shop: Shop,
                  merchant_tags: list[CustomerTag] | None = None) -> dict[str, Any]:
    body = {
        "id": c.id,
        "platform_id": c.platform_customer_id,
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "orders_count": c.orders_count,
        "total_spent": format_money(c.total_spent, shop.currency),
        "average_order_value": format_money(c.average_order_value, shop.currency),
        "currency": shop.currency,
        "first_order_at": iso(c.first_order_at),
        "last_order_at": iso(c.last_order_at),
        "points_balance": c.points_balance,
        "tier": c.tier,
        "email_marketing": c.email_marketing,
        "rfm_segment": c.rfm_segment,
        "churn_risk": c.churn_risk,
        "predicted_clv": format_money(c.predicted_clv, shop.currency),
        # Predictions (app.predictions.views.FIELD_DEFINITIONS): null until scored.
        "p_alive": None if c.churn_risk is None else 1.0 - c.churn_risk,
        "expected_orders_30": c.expected_orders_30,
        "expected_orders_90": c.expected_orders_90,
        "expected_orders_365": c.expected_orders_365,
        "next_order_expected_at": iso(c.next_order_expected_at),
        "predicted_spend_tier": c.predicted_spend_tier,
        "is_guest": c.platform_customer_id is None,
        "deleted": c.deleted_at is not None,
        "created_at": iso(c.created_at),
    }
    if merchant_tags is not None:
        body["merchant_tags"] = [tag.tag for tag in merchant_tags]
    return body


def note_json(note: CustomerNote) -> dict[str, Any]:
    return {"id": note.id, "body": note.body, "author": note.author,
            "created_at": iso(note.created_at)}


def tag_json(tag: CustomerTag) -> dict[str, Any]:
    return {"id": tag.id, "tag": tag.tag, "created_at": iso(tag.created_at)}


def profile_json(profile: Profile, shop: Shop) -> dict[str, Any]:
    customer = profile.customer
    body = customer_json(customer, shop, profile.tags)
    body.update({
        "phone": customer.phone,
        "city": customer.city,
        "country_code": customer.country_code,
        "tags": customer.tags,
        "email_marketing_updated_at": iso(customer.email_marketing_updated_at),
        "orders": [{
            "id": o.id,
            "platform_id": o.platform_order_id,
            "name": o.name,
            "placed_at": iso(o.placed_at),
            "total_price": format_money(o.total_price, o.currency),
            "total_refunded": format_money(o.total_refunded, o.currency),
            "currency": o.currency,
            "financial_status": o.financial_status,
            "fulfillment_status": o.fulfillment_status,
            "cancelled_at": iso(o.cancelled_at),
            "discount_codes": o.discount_codes or [],
            "line_items": [{
                "title": line.title, "variant_title": line.variant_title, "sku": line.sku,
                "quantity": line.quantity, "price": format_money(line.price, shop.currency),
                "product_id": line.product_id, "variant_id": line.variant_id,
            } for line in detail.lines],
            "refunds": [{
                "id": refund.platform_refund_id,
                "amount": format_money(refund.amount, shop.currency),
                "refunded_at": iso(refund.refunded_at), "note": refund.note,
            } for refund in detail.refunds],
        } for detail in profile.orders for o in [detail.order]],
        "carts": [{
            "id": c.id, "kind": c.kind, "status": c.status,
            "total_price": format_money(c.total_price, c.currency or shop.currency),
            "currency": c.currency or shop.currency, "recovery_url": c.recovery_url,
            "updated_at": iso(c.platform_updated_at), "line_items": c.line_items or [],
        } for c in profile.carts],
        "timeline": [{
            "kind": t.kind, "occurred_at": iso(t.occurred_at), "ref": t.ref, "data": t.data,
        } for t in profile.timeline],
        "notes": [note_json(note) for note in profile.notes],
        "points_ledger": [],
        "messages": [],
    })
    return body
