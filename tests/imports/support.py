"""Helpers for the import tests: files as other tools export them, and running an import."""

from __future__ import annotations

from sqlalchemy import func, select

from app.db import db
from app.imports.apply import run_import
from app.imports.service import create_run, prepare
from app.profiles.models import Customer, Order, TimelineEvent

SHOPIFY_CUSTOMERS = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
    "Default Address City,Default Address Country Code,Phone,Accepts SMS Marketing,"
    "Total Spent,Total Orders,Note,Tax Exempt,Tags\n"
)

KLAVIYO_PROFILES = (
    "Email,First Name,Last Name,Phone Number,City,Country,Email Marketing Consent,"
    "Email Marketing Consent Timestamp,Profile Created On,Klaviyo ID\n"
)

MAILCHIMP_MEMBERS = (
    "Email Address,First Name,Last Name,Address,Phone Number,MEMBER_RATING,OPTIN_TIME,"
    "OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,"
    "LAST_CHANGED,LEID,EUID,NOTES,TAGS\n"
)

SHOPIFY_ORDERS = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,"
    "Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,"
    "Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku,Refunded Amount,"
    "Cancelled at,Id\n"
)


def prepared(shop, kind: str, text: str, overrides=None):
    return prepare(db.session, shop, kind, text.encode(), overrides)


def import_file(shop, kind: str, text: str, overrides=None, *, chunk_size: int = 500,
                filename: str = "export.csv"):
    """Plan and apply `text`; the finished run."""
    plan = prepared(shop, kind, text, overrides)
    run = create_run(db.session, shop, plan, filename=filename)
    return run_import(db.session, run.id, chunk_size=chunk_size)


def count(model, shop=None) -> int:
    query = select(func.count()).select_from(model)
    if shop is not None:
        query = query.where(model.shop_id == shop.id)
    value = db.session.execute(query).scalar_one()
    db.session.commit()
    return value


def customer(shop, email: str) -> Customer:
    row = db.session.execute(select(Customer).where(
        Customer.shop_id == shop.id, Customer.email_normalized == email.lower())).scalar_one()
    return row


def table_counts(shop) -> dict[str, int]:
    return {"customers": count(Customer, shop), "orders": count(Order, shop),
            "timeline": count(TimelineEvent, shop)}
