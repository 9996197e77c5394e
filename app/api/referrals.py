"""`GET /api/loyalty/referrals` (the store's referrals, blocked ones with their reason) and
`POST /api/loyalty/referrals/<id>/approve` (the merchant overrides the fraud checks)."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from app.api import bp
from app.customers.query import parse_page
from app.db import db
from app.loyalty.referrals import (
    STATUSES,
    ApprovalRefused,
    ReferralNotFound,
    approve,
    get_referral,
    list_referrals,
)
from app.shops.service import API_KEY_PREFIX

MAX_PAGE = 10_000


def _error(status: int, message: str, field: str | None = None):
    body: dict[str, Any] = {"status": status, "message": message}
    if field:
        body["field"] = field
    return jsonify(body), status


def who_acts() -> str:
    """Who approves, as the referral records it: the signed-in account, else the kind of
    credential (an API key is not a person; a session token is a Shopify staff member)."""
    from app.accounts.service import current_account

    credential = request.headers.get("Authorization", "").partition(" ")[2].strip()
    if credential.startswith(API_KEY_PREFIX):
        return "API key"
    if credential:
        return "Shopify staff"
    account = current_account()
    return account.email if account is not None else "API"


@bp.get("/loyalty/referrals")
def list_referrals_route():
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        return _error(400, "status must be one of " + ", ".join(STATUSES), "status")
    page = parse_page(request.args, "page", 1, MAX_PAGE)
    if isinstance(page, str):
        return _error(400, page, "page")
    referrals, total = list_referrals(db.session, g.shop.id, status=status, page=page)
    return jsonify({"referrals": referrals, "total": total, "page": page})


@bp.post("/loyalty/referrals/<int:referral_id>/approve")
def approve_referral_route(referral_id: int):
    try:
        outcome = approve(db.session, g.shop, referral_id, reviewed_by=who_acts())
    except ReferralNotFound:
        db.session.rollback()
        return _error(404, f"no referral {referral_id} in this store")
    except ApprovalRefused as exc:
        db.session.rollback()
        return _error(409, str(exc))
    body = get_referral(db.session, g.shop.id, referral_id)
    assert body is not None
    body["friend_code"] = {"status": outcome.status, "code": outcome.code}
    return jsonify(body)


_REFERRAL = {"type": "object", "required": [
    "id", "status", "reason", "advocate", "friend_email", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "status": {"enum": list(STATUSES), "description": (
            "invited: the friend has their code; rewarded: the advocate's points are "
            "credited (pending for the return window); ordered: the friend ordered but the "
            "program gave advocates no points; blocked: held by a fraud check (`reason` says "
            "which); approved: released by the merchant, waiting for the friend's order; "
            "cancelled: the order was refunded in full or cancelled within the window.")},
        "reason": {"type": ["string", "null"],
                   "description": "Why it was blocked or cancelled, in one sentence."},
        "advocate": {"type": "object", "properties": {
            "id": {"type": "integer"}, "email": {"type": ["string", "null"]},
            "first_name": {"type": ["string", "null"]},
            "last_name": {"type": ["string", "null"]}}},
        "friend_email": {"type": "string"},
        "friend_name": {"type": ["string", "null"]},
        "friend_customer_id": {"type": ["integer", "null"]},
        "platform_order_id": {"type": ["string", "null"],
                              "description": "The friend's first paid order, once known."},
        "friend_code_issued": {"type": "boolean"},
        "reviewed_by": {"type": ["string", "null"], "description": "Who approved it."},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
    }}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    unauthorized = {"401": {"description": "Missing or invalid credential.", **error_response}}
    return {
        "/api/loyalty/referrals": {"get": {
            "summary": "The store's referrals, newest first (50 a page).",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)},
                 "description": "Only referrals of this status (e.g. blocked)."},
                {"name": "page", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "default": 1}},
            ],
            "responses": {
                "200": {"description": "A page of referrals and how many there are.",
                        "content": {"application/json": {"schema": {
                            "type": "object", "required": ["referrals", "total"],
                            "properties": {"referrals": {"type": "array", "items": _REFERRAL},
                                           "total": {"type": "integer"},
                                           "page": {"type": "integer"}}}}}},
                "400": {"description": "A parameter is invalid; `field` names it.",
                        **error_response},
                **unauthorized},
        }},
        "/api/loyalty/referrals/{id}/approve": {"post": {
            "summary": "Approve a blocked referral: the fraud checks no longer apply to it.",
            "description": "The friend's code is made if it was not; if the friend's order "
                           "is already paid, the advocate is credited now (pending for the "
                           "return window, counted from the payment). Who approved is "
                           "recorded in `reviewed_by`.",
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "responses": {
                "200": {"description": "The referral after approval, with `friend_code`.",
                        "content": {"application/json": {"schema": _REFERRAL}}},
                **unauthorized,
                "404": {"description": "No such referral in this store.", **error_response},
                "409": {"description": "The referral is not blocked.", **error_response}},
        }},
    }
