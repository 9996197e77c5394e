"""`/api/loyalty/program` and `/api/loyalty/rewards`: the store's loyalty program and its
rewards catalogue (shapes fixed in DESIGN.md; rules in app/loyalty/program.py and
app/loyalty/rewards.py, shared with the panel)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import g, jsonify, request

from app.api import bp
from app.db import db
from app.loyalty.program import (
    AWARD_ON,
    MAX_DAYS,
    MAX_POINTS,
    MAX_TIERS,
    NEGATIVE_BALANCE,
    REWARD_KINDS,
    TIER_BASIS,
    TIER_PERIOD,
    ProgramInvalid,
    read_program,
    save_program,
)
from app.loyalty.rewards import (
    RewardInvalid,
    create_reward,
    delete_reward,
    get_reward,
    list_rewards,
    reward_as_dict,
    update_reward,
)

API_AUTHOR = "API"


def _invalid(message: str, errors: dict[str, str]):
    db.session.rollback()
    return jsonify({"status": 400, "message": message, "errors": errors}), 400


def _json_body(example: str) -> tuple[Any, Any]:
    """The decoded body, or a 400 response. orjson: a body nested past its limit is a decode
    error, not a RecursionError (500)."""
    try:
        return orjson.loads(request.get_data(cache=False)), None
    except orjson.JSONDecodeError:
        return None, _invalid(f"body: send a JSON object, e.g. {example}",
                              {"body": "is not JSON"})


@bp.get("/loyalty/program")
def get_loyalty_program():
    return jsonify(read_program(db.session, g.shop.id).as_dict())


@bp.put("/loyalty/program")
def put_loyalty_program():
    """A partial program: the fields it holds change, the others keep their values. Any
    unknown field or wrong value is a 400 naming it, and then nothing changes. A change is
    a new version; entries already made keep the rules that made them."""
    changes, error = _json_body('{"enabled": true}')
    if error:
        return error
    try:
        program = save_program(db.session, g.shop.id, changes, saved_by=API_AUTHOR)
    except ProgramInvalid as exc:
        return _invalid(str(exc), exc.errors)
    db.session.commit()
    return jsonify(program.as_dict())


def _reward_json(row) -> dict[str, Any]:
    return reward_as_dict(row, g.shop.currency)


def _not_found(reward_id: int):
    return jsonify({"status": 404, "message": f"no reward {reward_id} in this store"}), 404


@bp.get("/loyalty/rewards")
def list_loyalty_rewards():
    rows = list_rewards(db.session, g.shop.id)
    return jsonify({"rewards": [_reward_json(row) for row in rows]})


@bp.post("/loyalty/rewards")
def create_loyalty_reward():
    data, error = _json_body('{"name": "$5 off", "kind": "fixed_amount", "value": "5", '
                             '"points_cost": 500}')
    if error:
        return error
    try:
        row = create_reward(db.session, g.shop.id, data)
    except RewardInvalid as exc:
        return _invalid(str(exc), exc.errors)
    db.session.commit()
    return jsonify(_reward_json(row)), 201


@bp.get("/loyalty/rewards/<int:reward_id>")
def get_loyalty_reward(reward_id: int):
    row = get_reward(db.session, g.shop.id, reward_id)
    return _not_found(reward_id) if row is None else jsonify(_reward_json(row))


@bp.put("/loyalty/rewards/<int:reward_id>")
def update_loyalty_reward(reward_id: int):
    row = get_reward(db.session, g.shop.id, reward_id)
    if row is None:
        return _not_found(reward_id)
    data, error = _json_body('{"points_cost": 400}')
    if error:
        return error
    try:
        update_reward(db.session, row, data)
    except RewardInvalid as exc:
        return _invalid(str(exc), exc.errors)
    db.session.commit()
    return jsonify(_reward_json(row))


@bp.delete("/loyalty/rewards/<int:reward_id>")
def delete_loyalty_reward(reward_id: int):
    row = get_reward(db.session, g.shop.id, reward_id)
    if row is None:
        return _not_found(reward_id)
    delete_reward(db.session, row)
    db.session.commit()
    return "", 204


# --- OpenAPI -------------------------------------------------------------------------------

_decimal = {"type": "string", "pattern": r"^\d+(\.\d{1,4})?$"}
_money_or_null = {"type": ["string", "null"], "pattern": r"^\d+(\.\d+)?$",
                  "description": "Money in the shop's currency, or null for none."}
_points = {"type": "integer", "minimum": 0, "maximum": MAX_POINTS}

TIER = {"type": "object", "required": ["name", "threshold", "multiplier"],
        "additionalProperties": False, "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64},
            "threshold": {**_decimal, "description": "Money spent (tier_basis spend) or points "
                                                    "earned (points) over tier_period to "
                                                    "reach the tier. Tiers go lowest first."},
            "multiplier": {**_decimal, "description": "Earning is multiplied by this "
                                                     "(0 to 10)."},
            "perks": {"type": "string", "maxLength": 500,
                      "description": "What members of the tier get, in words."}}}

_PROGRAM_FIELDS: dict[str, Any] = {
    "enabled": {"type": "boolean"},
    "points_per_unit": {**_decimal, "description": "Points per 1 unit of shop currency paid "
                                                  "(0 to 1000). Fractions of a point are "
                                                  "dropped."},
    "award_on": {"enum": list(AWARD_ON)},
    "pending_days": {"type": "integer", "minimum": 0, "maximum": 365,
                     "description": "Days points stay pending (unspendable) after they "
                                    "are earned: the return window."},
    "include_shipping": {"type": "boolean"},
    "include_tax": {"type": "boolean"},
    "signup_points": _points,
    "first_order_points": _points,
    "birthday_points": _points,
    "negative_balance": {"enum": list(NEGATIVE_BALANCE),
                         "description": "When a refund takes back points already spent: "
                                        "let the balance go below zero, or stop at zero and "
                                        "record the shortfall."},
    "expiry_days": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DAYS,
                    "description": "Points expire after this many days without earning or "
                                   "spending; null: never."},
    "expiry_warning_days": {"type": "integer", "minimum": 0, "maximum": 365},
    "tier_basis": {"enum": list(TIER_BASIS)},
    "tier_period": {"enum": list(TIER_PERIOD)},
    "tiers": {"type": "array", "maxItems": MAX_TIERS, "items": TIER},
    "referrals_enabled": {"type": "boolean"},
    "referral_advocate_points": _points,
    "referral_friend_kind": {"enum": list(REWARD_KINDS)},
    "referral_friend_value": _decimal,
    "referral_friend_minimum_order": _money_or_null,
    "referral_weekly_ip_limit": {"type": "integer", "minimum": 1, "maximum": 1000},
}
PROGRAM = {"type": "object", "required": list(_PROGRAM_FIELDS) + ["version"],
           "properties": {**_PROGRAM_FIELDS,
                          "version": {"type": "integer", "description": "Saves so far (0: "
                                                                        "never saved)."}}}
PROGRAM_CHANGES = {"type": "object", "additionalProperties": False,
                   "properties": {**_PROGRAM_FIELDS, "version": {
                       "type": "integer", "description": "Ignored (sent back by clients "
                                                         "that PUT what they read)."}}}
_REWARD_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 120},
    "kind": {"enum": list(REWARD_KINDS)},
    "value": {**_decimal, "description": "fixed_amount: money off in shop currency; "
                                        "percentage: above 0, at most 100; free_shipping: "
                                        "0."},
    "points_cost": {"type": "integer", "minimum": 1, "maximum": MAX_POINTS},
    "minimum_order": _money_or_null,
    "expires_after_days": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DAYS,
                           "description": "Days the code stays usable; null: never expires."},
    "active": {"type": "boolean", "description": "Only active rewards can be redeemed."},
}
REWARD = {"type": "object", "required": ["id", *_REWARD_FIELDS],
          "properties": {"id": {"type": "integer"}, **_REWARD_FIELDS}}
REWARD_NEW = {"type": "object", "required": ["name", "kind", "points_cost"],
              "additionalProperties": False, "properties": _REWARD_FIELDS,
              "description": "value is required unless kind is free_shipping."}
REWARD_CHANGES = {"type": "object", "additionalProperties": False,
                  "properties": {"id": {"type": "integer"}, **_REWARD_FIELDS}}
FIELD_ERRORS = {"type": "object", "required": ["status", "message", "errors"],
                "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                               "errors": {"type": "object",
                                          "additionalProperties": {"type": "string"},
                                          "description": "Why, per field (tiers.1.threshold "
                                                         "for a part of one)."}}}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    unauthorized = {"401": {"description": "Missing or invalid credential.", **error_response}}
    invalid = {"400": {"description": "An unknown field or an invalid value; nothing was "
                                      "saved.", **body(FIELD_ERRORS)}}
    missing = {"404": {"description": "No such reward in this store (or it was deleted).",
                       **error_response}}
    reward_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    return {
        "/api/loyalty/program": {
            "get": {"summary": "The store's loyalty program (defaults until it is saved).",
                    "responses": {"200": {"description": "The program.", **body(PROGRAM)},
                                  **unauthorized}},
            "put": {"summary": "Change some of the program's settings (a partial object).",
                    "description": "Fields left out keep their values. A change makes a new "
                                   "version; points already given keep the rules that gave "
                                   "them.",
                    "requestBody": {"required": True, **body(PROGRAM_CHANGES)},
                    "responses": {"200": {"description": "The program now in effect.",
                                          **body(PROGRAM)}, **invalid, **unauthorized}},
        },
        "/api/loyalty/rewards": {
            "get": {"summary": "The rewards catalogue (deleted rewards left out), cheapest "
                               "first.",
                    "responses": {"200": {"description": "The rewards.", **body({
                        "type": "object", "required": ["rewards"], "properties": {
                            "rewards": {"type": "array", "items": REWARD}}})},
                        **unauthorized}},
            "post": {"summary": "Add a reward.",
                     "requestBody": {"required": True, **body(REWARD_NEW)},
                     "responses": {"201": {"description": "The new reward.", **body(REWARD)},
                                   **invalid, **unauthorized}},
        },
        "/api/loyalty/rewards/{id}": {
            "get": {"summary": "One reward.", "parameters": reward_id,
                    "responses": {"200": {"description": "The reward.", **body(REWARD)},
                                  **unauthorized, **missing}},
            "put": {"summary": "Change some of a reward's fields (a partial object).",
                    "parameters": reward_id,
                    "requestBody": {"required": True, **body(REWARD_CHANGES)},
                    "responses": {"200": {"description": "The reward now.", **body(REWARD)},
                                  **invalid, **unauthorized, **missing}},
            "delete": {"summary": "Delete a reward: it leaves the catalogue and cannot be "
                                  "redeemed; redemptions that name it keep it.",
                       "parameters": reward_id,
                       "responses": {"204": {"description": "Deleted."}, **unauthorized,
                                     **missing}},
        },
    }
