"""`POST /api/customers/<id>/redemptions`: redeem a customer's points for a reward, as a
single-use discount code made on the store's platform (app/loyalty/redeem.py).

Answers: 201 with the issued code; 202 when the platform has not answered yet (the points
stay held and a job finishes it: read it again later with the same Idempotency-Key); 409
when the customer cannot redeem it (the reason is a sentence to show them); 404 for a
customer or reward of another store; 502 when the platform refused to make the code (no
points were taken). An `Idempotency-Key` header makes a retried request the same redemption.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from app.api import bp
from app.db import db
from app.loyalty.models import FAILED, HELD
from app.loyalty.redeem import RedemptionRefused, redeem

MAX_CLIENT_KEY = 64
PLATFORM_NAMES = {"shopify": "Shopify", "woocommerce": "WooCommerce"}


def _error(status: int, message: str, **extra: Any):
    return jsonify({"status": status, "message": message, **extra}), status


def _idempotency_key() -> tuple[str | None, str | None]:
    """(stored key, error). A client's key is kept apart from Sticky's own keys."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None, None
    key = raw.strip()
    if not key or len(key) > MAX_CLIENT_KEY or not key.isprintable():
        return None, (f"Idempotency-Key must be 1 to {MAX_CLIENT_KEY} printable characters")
    return f"client:{key}", None


@bp.post("/customers/<int:customer_id>/redemptions")
def create_redemption(customer_id: int):
    body = request.get_json(silent=True)
    reward_id = body.get("reward_id") if isinstance(body, dict) else None
    if isinstance(reward_id, bool) or not isinstance(reward_id, int) or reward_id < 1:
        return _error(400, 'send a JSON object like {"reward_id": 12} (a reward\'s id)',
                      field="reward_id")
    key, problem = _idempotency_key()
    if problem:
        return _error(400, problem, field="Idempotency-Key")
    try:
        result = redeem(db.session, g.shop, customer_id, reward_id, idempotency_key=key)
    except RedemptionRefused as exc:
        db.session.rollback()
        return _error(exc.status, exc.reason)
    if result["status"] == FAILED:
        platform = PLATFORM_NAMES.get(g.shop.platform, "The store")
        return _error(502, f"{platform} refused to create the discount code, so no points "
                           f"were spent: {result['error']}", redemption=result)
    if result["status"] == HELD:
        return jsonify({**result, "message": "The store has not confirmed the code yet; the "
                        "points are held and Sticky keeps trying. Ask again with the same "
                        "Idempotency-Key to see the outcome."}), 202
    return jsonify(result), 201


# -- OpenAPI (merged into /api/openapi.json by app.api.openapi) ----------------------------

REDEMPTION = {
    "type": "object",
    "required": ["id", "code", "status", "points", "expires_at"],
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string", "description": "The single-use discount code, made out to "
                                                  "this customer where the platform allows."},
        "status": {"enum": ["held", "issued", "failed"],
                   "description": "issued: the code works; held: the platform has not "
                                  "confirmed it yet (points reserved); failed: no code, no "
                                  "points taken."},
        "points": {"type": "integer", "description": "What it costs."},
        "expires_at": {"type": ["string", "null"], "format": "date-time"},
        "customer_id": {"type": ["integer", "null"]},
        "reward_id": {"type": ["integer", "null"]},
        "reward": {"type": "object", "description": "The reward as it was when redeemed."},
        "error": {"type": ["string", "null"], "description": "Why the platform made no code."},
        "created_at": {"type": "string", "format": "date-time"},
        "issued_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    return {"/api/customers/{id}/redemptions": {"post": {
        "summary": "Redeem a customer's points for a reward: a single-use discount code.",
        "description": (
            "The points are held, the code is made on the store's platform, and the points "
            "are taken only when the platform confirms it. Send an `Idempotency-Key` header "
            "(up to 64 characters) to make a retried request return the same redemption."),
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string",
                                                                   "maxLength": 64}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["reward_id"],
            "properties": {"reward_id": {"type": "integer"}}}}}},
        "responses": {
            "201": {"description": "The code was made.", "content": {
                "application/json": {"schema": REDEMPTION}}},
            "202": {"description": "The platform has not confirmed the code yet; the points "
                                   "are held and Sticky keeps trying.",
                    "content": {"application/json": {"schema": REDEMPTION}}},
            "400": {"description": "The body or the Idempotency-Key is invalid.",
                    **error_response},
            "401": {"description": "Missing or invalid credential.", **error_response},
            "404": {"description": "No such customer or reward in this store.",
                    **error_response},
            "409": {"description": "The customer cannot redeem it (not enough points, the "
                                   "reward or the program is off); `message` says why.",
                    **error_response},
            "422": {"description": "The Idempotency-Key was used for another redemption.",
                    **error_response},
            "502": {"description": "The platform refused to make the code; no points were "
                                   "taken. `message` gives its reason.", **error_response},
        },
    }}}
