"""`POST /api/customers/<id>/points`: a merchant's manual adjustment of a shopper's points,
with its reason. The entry it makes is answered in the shape of `points_ledger` entries.

A client that may retry sends an `Idempotency-Key` header: the same key makes one adjustment
however often the request arrives (the answer repeats it, with `Idempotent-Replayed: true`);
the same key with another customer or other points or reason is refused (409).
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select

from app.api import bp
from app.customers.profile import get_customer
from app.db import db
from app.loyalty import ledger, writeback
from app.loyalty.models import LedgerEntry
from app.loyalty.program import MAX_POINTS, read_program

MAX_REASON = 500
MAX_IDEMPOTENCY_KEY = 100
API_AUTHOR = "API"


class _Refused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str):
    return jsonify({"status": status, "message": message}), status


def parse_adjustment(body: Any) -> tuple[int, str]:
    """(points, reason) from a request body, or _Refused saying what is wrong."""
    if not isinstance(body, dict):
        raise _Refused(400, 'send a JSON object like {"points": 50, "reason": "Goodwill for '
                            'a late delivery"}')
    points = body.get("points")
    if isinstance(points, bool) or not isinstance(points, int):
        raise _Refused(400, "points: must be a whole number of points (negative to deduct), "
                            "e.g. 50 or -20")
    if points == 0:
        raise _Refused(400, "points: must not be 0 (an adjustment changes the balance)")
    if abs(points) > MAX_POINTS:
        raise _Refused(400, f"points: must be at most {MAX_POINTS:,} either way")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _Refused(400, "reason: say why, e.g. \"Goodwill for a late delivery\" (the "
                            "shopper's history shows it)")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise _Refused(400, f"reason: must be at most {MAX_REASON} characters")
    if "\x00" in reason:
        raise _Refused(400, "reason: must not contain a NUL character")
    return points, reason


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise _Refused(400, f"Idempotency-Key: must be 1 to {MAX_IDEMPOTENCY_KEY} printable "
                            "characters (a UUID is a good choice)")
    return key


def _earlier(session, shop_id: int, key: str | None) -> dict[str, Any] | None:
    """The adjustment an earlier request with this Idempotency-Key made, if any."""
    if key is None:
        return None
    row = session.execute(select(LedgerEntry).where(
        LedgerEntry.shop_id == shop_id, LedgerEntry.key == f"adjust:{key}")).scalar_one_or_none()
    return None if row is None else {"customer_id": row.customer_id,
                                     **ledger.entry_as_dict(row)}


def _same_request(earlier: dict[str, Any], customer_id: int, points: int, reason: str) -> None:
    if (earlier["customer_id"], earlier["points"], earlier["reason"]) != (
            customer_id, points, reason):
        raise _Refused(409, "Idempotency-Key: already used for another adjustment (customer, "
                            "points or reason differ); send a new key for a new adjustment")


@bp.post("/customers/<int:customer_id>/points")
def adjust_points(customer_id: int):
    shop = g.shop
    session = db.session
    customer = get_customer(session, shop.id, customer_id)
    if customer is None:
        return _error(404, f"no customer {customer_id} in this store")
    try:
        points, reason = parse_adjustment(request.get_json(silent=True))
        key = _idempotency_key()
        before = ledger.lock_member(session, shop.id, customer.id)
        earlier = _earlier(session, shop.id, key)
        if earlier is not None:  # a retry: answer what it made, change nothing
            _same_request(earlier, customer.id, points, reason)
            session.commit()
            earlier.pop("customer_id")
            response = jsonify(earlier)
            response.headers["Idempotent-Replayed"] = "true"
            return response, 200
        if (points < 0 and before + points < 0
                and read_program(session, shop.id).negative_balance == "floor_zero"):
            raise _Refused(409, f"points: the balance is {before}; deducting {-points} would "
                                "take it below zero, which this store's program does not allow "
                                "(negative balances: stop at zero)")
        entry = ledger.adjust(session, shop.id, customer.id, points, reason,
                              created_by=API_AUTHOR, key=key)
    except _Refused as refused:
        session.rollback()
        return _error(refused.status, str(refused))
    writeback.mark_due(session, shop.id, [customer.id])
    session.commit()
    return jsonify({**entry, "points_balance": ledger.balance(session, shop.id, customer.id)}), 201


LEDGER_ENTRY = {
    "type": "object",
    "required": ["id", "kind", "points", "status", "reason", "source", "order_id", "rate",
                 "created_at", "available_at"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["earn", "pending", "release", "redeem", "reverse", "expire",
                          "adjust"]},
        "points": {"type": "integer", "description": "Positive adds, negative takes away."},
        "status": {"enum": ["pending", "available"],
                   "description": "Which balance it moves: spendable, or pending until the "
                                  "return window is over (`available_at`)."},
        "reason": {"type": "string"},
        "source": {"type": "string",
                   "description": "order, refund, cancellation, rule, reward, merchant, "
                                  "referral, expiry or release."},
        "order_id": {"type": ["integer", "null"]},
        "platform_order_id": {"type": ["string", "null"]},
        "rate": {"type": ["string", "null"],
                 "description": "Points per unit of shop currency that produced it."},
        "created_at": {"type": "string", "format": "date-time"},
        "available_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def openapi_paths(error_response: dict) -> dict:
    return {"/api/customers/{id}/points": {"post": {
        "summary": "Adjust a customer's points by hand, with a reason.",
        "description": "Adds (positive) or deducts (negative) points; the entry appears in "
                       "the customer's `points_ledger`. Send `Idempotency-Key` to make a "
                       "retried request one adjustment.",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "Idempotency-Key", "in": "header", "required": False,
             "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY}},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["points", "reason"], "properties": {
                "points": {"type": "integer", "minimum": -MAX_POINTS, "maximum": MAX_POINTS,
                           "not": {"const": 0}},
                "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON}}}}}},
        "responses": {
            "201": {"description": "The new ledger entry, and the balance it leaves.",
                    "content": {"application/json": {"schema": {"allOf": [LEDGER_ENTRY, {
                        "type": "object",
                        "properties": {"points_balance": {"type": "integer"}}}]}}}},
            "200": {"description": "A replay of an earlier request with the same "
                                   "Idempotency-Key: the entry it made.",
                    "content": {"application/json": {"schema": LEDGER_ENTRY}}},
            "400": {"description": "The body or a header is invalid.", **error_response},
            "401": {"description": "Missing or invalid credential.", **error_response},
            "404": {"description": "No such customer in this store.", **error_response},
            "409": {"description": "The deduction would take the balance below zero under "
                                   "the store's floor-at-zero policy, or the "
                                   "Idempotency-Key was used for another request.",
                    **error_response},
        },
    }}}
