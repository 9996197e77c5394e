"""`GET /api/flows/<id>/report` (a flow's figures, per step, its holdout comparison and its
recipients) and `POST /api/flows/<id>/backtest` (a dry run over the shop's recent events).

The rules live in app/flows/stats.py, app/flows/holdout.py and app/flows/backtest.py; this
module only reads the request, scopes it to the credential's store and shapes the answer.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask import g, jsonify, request

from app.api import bp
from app.db import db, utcnow
from app.flows import backtest, holdout, stats
from app.flows.definition import walk
from app.flows.service import get_flow

RECIPIENTS_DEFAULT, RECIPIENTS_MAX = 50, 500
BACKTEST_DAYS_DEFAULT, BACKTEST_DAYS_MAX = 30, 90


def _error(status: int, message: str, errors: dict[str, str] | None = None):
    body: dict[str, Any] = {"status": status, "message": message}
    if errors:
        body["errors"] = errors
    return jsonify(body), status


def _flow_or_404(flow_id: int):
    flow = get_flow(db.session, g.shop.id, flow_id)
    if flow is None:
        return None, _error(404, f"no flow {flow_id} in this store")
    return flow, None


def _whole(value: Any, name: str, low: int, high: int) -> tuple[int | None, str | None]:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None, f"{name}: a whole number from {low} to {high}"
    return value, None


def _steps(flow, by_step: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The current version's steps in order with their figures, then any step that only
    older versions had (`in_current_version` false) so nothing counted disappears."""
    steps = []
    for step in walk(flow.definition.get("steps", [])):
        figures = by_step.pop(step["id"], None) or {**stats.STEP_ZERO, "skipped_reasons": {}}
        steps.append({"id": step["id"], "type": step["type"], "in_current_version": True,
                      **figures})
    for step_id, figures in sorted(by_step.items()):
        steps.append({"id": step_id, "type": None, "in_current_version": False, **figures})
    return steps


@bp.get("/flows/<int:flow_id>/report")
def get_flow_report(flow_id: int):
    """The flow's figures (`stats`), per step (`steps`), its holdout comparison (`holdout`)
    and its recipients, most revenue first (`recipients`, `?limit=` up to 500)."""
    flow, error = _flow_or_404(flow_id)
    if error:
        return error
    limit, why = _whole(request.args.get("limit", RECIPIENTS_DEFAULT), "limit", 1,
                        RECIPIENTS_MAX)
    if why:
        return _error(400, why, {"limit": why.split(": ", 1)[1]})
    session, shop_id = db.session, g.shop.id
    return jsonify({
        "flow_id": flow.id,
        "currency": g.shop.currency,
        "stats": stats.flow_stats(session, shop_id, [flow.id])[flow.id],
        "steps": _steps(flow, stats.step_stats(session, shop_id, flow.id)),
        "holdout": holdout.report(session, shop_id, flow.id, utcnow()),
        "recipients": stats.recipients(session, shop_id, flow.id, limit=limit),
    })


@bp.post("/flows/<int:flow_id>/backtest")
def post_flow_backtest(flow_id: int):
    """A dry run of the flow over the last `days` days (body `{"days": n}`, default 30, at
    most 90; an empty body is fine). Sends and records nothing."""
    flow, error = _flow_or_404(flow_id)
    if error:
        return error
    raw = request.get_data(cache=False)
    body: Any = {}
    if raw.strip():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error(400, 'body: send a JSON object, e.g. {"days": 30}, or nothing',
                          {"body": "is not JSON"})
    if not isinstance(body, dict):
        return _error(400, 'body: send a JSON object, e.g. {"days": 30}',
                      {"body": "is not an object"})
    unknown = sorted(set(body) - {"days"})
    if unknown:
        return _error(400, f"{unknown[0]}: not a field of a backtest (only days is)",
                      {unknown[0]: "is not a field of a backtest"})
    days, why = _whole(body.get("days", BACKTEST_DAYS_DEFAULT), "days", 1, BACKTEST_DAYS_MAX)
    if why:
        return _error(400, why, {"days": why.split(": ", 1)[1]})
    result = backtest.run(db.session, flow, utcnow(), days=days)
    db.session.rollback()  # a dry run: whatever the session holds, nothing is kept
    return jsonify(result)


# --- OpenAPI -------------------------------------------------------------------------------

_count = {"type": "integer", "minimum": 0}
_money = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$",
          "description": "A string decimal in the shop's currency."}
FLOW_STATS = {"type": "object", "properties": {
    "entered": {**_count, "description": "Runs started, holdout included."},
    "held_out": {**_count, "description": "Runs drawn into the holdout (sent nothing)."},
    "sent": _count, "opened": _count, "clicked": _count, "unsubscribed": _count,
    "converted": {**_count, "description": "Orders attributed, last touch: a click within "
                                           "attribution_click_days, else an open within "
                                           "attribution_open_days."},
    "revenue": _money}}
STEP_FIGURES = {"type": "object", "properties": {
    "id": {"type": "string"}, "type": {"type": ["string", "null"]},
    "in_current_version": {"type": "boolean"},
    "sent": _count, "skipped": _count, "failed": _count, "suppressed": _count,
    "opened": _count, "clicked": _count, "unsubscribed": _count, "converted": _count,
    "revenue": _money, "done": _count, "held_out": _count,
    "skipped_reasons": {"type": "object", "additionalProperties": {"type": "integer"}}}}
_GROUP = {"type": "object", "properties": {
    "entrants": _count, "converted": _count,
    "conversion_rate": {"type": ["string", "null"], "description": "0 to 1, 4 decimals."},
    "revenue": _money, "revenue_per_entrant": _money}}
HOLDOUT = {"type": "object", "properties": {
    "treatment": _GROUP, "holdout": _GROUP,
    "incremental_revenue_per_entrant": _money,
    "ci95": {"type": ["array", "null"], "items": _money, "minItems": 2, "maxItems": 2,
             "description": "95% interval of the per-entrant difference (Welch, normal "
                            "approximation)."},
    "incremental_revenue": _money, "enough_data": {"type": "boolean"},
    "reason": {"type": ["string", "null"]}, "in_window": _count,
    "window_days": _count}}
RECIPIENT = {"type": "object", "properties": {
    "customer_id": {"type": "integer"}, "email": {"type": ["string", "null"]},
    "sent": _count, "opened": _count, "clicked": _count, "unsubscribed": _count,
    "converted": _count, "revenue": _money}}
BACKTEST = {"type": "object", "properties": {
    "days": _count, "available": {"type": "boolean"},
    "reason": {"type": ["string", "null"],
               "description": "Why the trigger cannot be replayed, if it cannot."},
    "triggered": _count, "entered": _count, "filtered": _count, "reentry_blocked": _count,
    "held_out": _count, "held_out_expected": {"type": "number"},
    "exited": {"type": "object", "additionalProperties": {"type": "integer"}},
    "completed": _count, "in_progress": _count, "smart_sending_skipped": _count,
    "no_consent": _count, "suppressed": _count,
    "steps": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "type": {"type": "string"}, "reached": _count,
        "sent": _count}}},
    "approximations": {"type": "array", "items": {"type": "string"}}}}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    parameter = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
    errors = {"401": {"description": "Missing or invalid credential.", **error_response},
              "404": {"description": "No such flow in this store.", **error_response}}
    return {
        "/api/flows/{id}/report": {"get": {
            "summary": "A flow's figures, per step, its holdout comparison and recipients.",
            "parameters": [parameter, {"name": "limit", "in": "query", "schema": {
                "type": "integer", "minimum": 1, "maximum": RECIPIENTS_MAX,
                "default": RECIPIENTS_DEFAULT}, "description": "Recipients listed."}],
            "responses": {
                "200": {"description": "The report.", "content": {"application/json": {
                    "schema": {"type": "object", "required": [
                        "flow_id", "stats", "steps", "holdout", "recipients"], "properties": {
                        "flow_id": {"type": "integer"}, "currency": {"type": "string"},
                        "stats": FLOW_STATS,
                        "steps": {"type": "array", "items": STEP_FIGURES},
                        "holdout": HOLDOUT,
                        "recipients": {"type": "array", "items": RECIPIENT}}}}}},
                "400": {"description": "limit is out of range.", **error_response},
                **errors}}},
        "/api/flows/{id}/backtest": {"post": {
            "summary": "A dry run of the flow over the shop's recent events (writes nothing).",
            "parameters": [parameter],
            "requestBody": {"required": False, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": False, "properties": {
                    "days": {"type": "integer", "minimum": 1, "maximum": BACKTEST_DAYS_MAX,
                             "default": BACKTEST_DAYS_DEFAULT}}}}}},
            "responses": {
                "200": {"description": "What the flow would have done.",
                        "content": {"application/json": {"schema": BACKTEST}}},
                "400": {"description": "The body is not an object or days is out of range.",
                        **error_response},
                **errors}}},
    }
