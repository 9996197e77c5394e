"""`/api/customers`: the list (shape fixed in DESIGN.md), its CSV export, one profile, and
the merchant's notes and tags. The work is in `app.customers`, shared with the panel."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy.orm import Session

from app.api import bp
from app.customers import notes as merchant
from app.customers.export import csv_response
from app.customers.profile import get_customer, load_profile
from app.customers.query import (
    MAX_PAGE,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    list_customers,
    parse_filters,
    parse_page,
)
from app.customers.serialize import customer_json, note_json, profile_json, tag_json
from app.db import db
from app.flows.history import message_json, messages
from app.loyalty import ledger
from app.segments.membership import resolve_filters
from app.settings.timezone import shop_zone
from app.shops.models import Shop

POINTS_LEDGER_ENTRIES = 100  # newest first
MESSAGES = 100  # newest first

__all__ = ["customer_json"]  # kept importable from here for other API modules


def _error(status: int, message: str):
    return jsonify({"status": status, "message": message}), status


def _filters_or_error():
    filters, errors = parse_filters(request.args)
    if errors:
        return None, _error(400, "; ".join(f"{name}: {message}"
                                           for name, message in errors.items()))
    # `segment`: a saved segment's id, or an RFM group's name.
    filters, missing = resolve_filters(db.session, g.shop, filters)
    if missing:
        return None, _error(404, f"segment: {missing}")
    return filters, None


@bp.get("/customers", endpoint="list_customers")
def list_customers_route():
    shop: Shop = g.shop
    page = parse_page(request.args, "page", 1, MAX_PAGE)
    per_page = parse_page(request.args, "per_page", PAGE_SIZE, MAX_PAGE_SIZE)
    for value in (page, per_page):
        if isinstance(value, str):
            return _error(400, value)
    filters, error = _filters_or_error()
    if error:
        return error
    session: Session = db.session
    result = list_customers(session, shop.id, filters, shop_zone(session, shop),
                            page=page, per_page=per_page)
    return jsonify({
        "customers": [customer_json(c, shop, result.merchant_tags.get(c.id, []))
                      for c in result.customers],
        "total": result.total,
        "page": result.page,
        "per_page": result.per_page,
    })


@bp.get("/customers/export.csv")
def export_customers():
    filters, error = _filters_or_error()
    if error:
        return error
    session: Session = db.session
    return csv_response(session, g.shop, filters, shop_zone(session, g.shop))


def _customer_or_404(customer_id: int):
    customer = get_customer(db.session, g.shop.id, customer_id)
    if customer is None:
        return None, _error(404, f"no customer {customer_id} in this store")
    return customer, None


@bp.get("/customers/<int:customer_id>", endpoint="get_customer")
def get_customer_route(customer_id: int):
    customer, error = _customer_or_404(customer_id)
    if error:
        return error
    body = profile_json(load_profile(db.session, customer), g.shop)
    body["points_ledger"] = ledger.entries(db.session, g.shop.id, customer.id,
                                           limit=POINTS_LEDGER_ENTRIES)
    body["messages"] = [message_json(m) for m in messages(
        db.session, g.shop.id, customer_id=customer.id, limit=MESSAGES)]
    return jsonify(body)


def _json_field(name: str) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise merchant.InvalidInput(name, f'send a JSON object like {{"{name}": "..."}}')
    return body.get(name)


@bp.post("/customers/<int:customer_id>/notes")
def add_note(customer_id: int):
    customer, error = _customer_or_404(customer_id)
    if error:
        return error
    try:
        note = merchant.add_note(db.session, customer, _json_field("body"), merchant.API_AUTHOR)
    except merchant.InvalidInput as exc:
        db.session.rollback()
        return _error(400, f"{exc.field}: {exc}")
    db.session.commit()
    return jsonify(note_json(note)), 201


@bp.post("/customers/<int:customer_id>/tags")
def add_tag(customer_id: int):
    customer, error = _customer_or_404(customer_id)
    if error:
        return error
    try:
        result = merchant.add_tag(db.session, customer, _json_field("tag"), merchant.API_AUTHOR)
    except merchant.InvalidInput as exc:
        db.session.rollback()
        return _error(400, f"{exc.field}: {exc}")
    db.session.commit()
    return jsonify(tag_json(result.tag)), 201 if result.created else 200


@bp.delete("/customers/<int:customer_id>/tags/<path:tag>")
def remove_tag(customer_id: int, tag: str):
    customer, error = _customer_or_404(customer_id)
    if error:
        return error
    found = merchant.find_tag(db.session, customer, text=tag) if "\x00" not in tag else None
    if found is None:
        return _error(404, f"customer {customer_id} has no tag {tag!r}")
    merchant.remove_tag(db.session, customer, found, merchant.API_AUTHOR)
    db.session.commit()
    return "", 204
