"""`GET /api/metrics` (the store's figures over a date range) and `GET /api/activity` (its
latest activity): the same figures the Dashboard shows, from the same functions."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from app.analytics.activity import latest_activity
from app.analytics.kpis import DEFINITIONS, KPI_DEFINITIONS, SERIES_KPIS, metrics_json
from app.analytics.periods import INTERVALS, MAX_YEARS, PeriodError, parse_period
from app.api import bp
from app.db import db
from app.settings.timezone import shop_zone

COMPARE = ("previous",)
ACTIVITY_LIMIT, MAX_ACTIVITY_LIMIT = 20, 100


def bad_request(message: str, field: str | None = None):
    body: dict[str, Any] = {"status": 400, "message": message}
    if field:
        body["field"] = field
    return jsonify(body), 400


@bp.get("/metrics")
def metrics():
    args = request.args
    compare = args.get("compare", "").strip()
    if compare and compare not in COMPARE:
        return bad_request(f"compare must be one of {', '.join(COMPARE)}", "compare")
    try:
        period = parse_period(shop_zone(db.session, g.shop), first=args.get("from"),
                              last=args.get("to"), interval=args.get("interval"),
                              preset=args.get("range"))
    except PeriodError as exc:
        return bad_request(exc.message, exc.field)
    return jsonify(metrics_json(db.session, g.shop, period, compare=bool(compare)))


@bp.get("/activity")
def activity():
    raw = request.args.get("limit", "").strip()
    try:
        limit = int(raw) if raw else ACTIVITY_LIMIT
    except ValueError:
        return bad_request("limit must be a whole number", "limit")
    if not 1 <= limit <= MAX_ACTIVITY_LIMIT:
        return bad_request(f"limit must be between 1 and {MAX_ACTIVITY_LIMIT}", "limit")
    items = latest_activity(db.session, g.shop, limit=limit)
    return jsonify({"activity": [item.as_json() for item in items]})


# -- OpenAPI (merged into /api/openapi.json by app.api.openapi) ----------------------------

_money = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$",
          "description": "Decimal amount as a string, in the shop's currency; null when "
                         "there is nothing to divide by."}
_RATE_FORMAT = ("A share from 0 to 1 as a decimal string with 4 places (\"0.2500\" is "
                "25%); null when its base is zero.")
_rate_schema = {"type": ["string", "null"], "pattern": r"^[01]\.\d{4}$"}
_count = {"type": "integer", "minimum": 0}
_FIGURES = {
    "revenue": {**_money, "description": DEFINITIONS["revenue"]},
    "orders": {**_count, "description": DEFINITIONS["orders"]},
    "average_order_value": {**_money, "description": DEFINITIONS["average_order_value"]},
    "customers": {**_count, "description": DEFINITIONS["customers"]},
    "new_customers": {**_count, "description": DEFINITIONS["new_customers"]},
    "returning_customers": {**_count, "description": DEFINITIONS["returning_customers"]},
    **{name: {**_count, "description": DEFINITIONS[name]} for name in (
        "checkouts_started", "checkouts_open", "checkouts_abandoned", "checkouts_completed",
        "checkouts_recovered")},
    "recovery_rate": {**_rate_schema,
                      "description": f"{DEFINITIONS['recovery_rate']} {_RATE_FORMAT}"},
}
_decimal = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$"}


def _kpi_schema(name: str) -> dict[str, Any]:
    definition = KPI_DEFINITIONS[name]
    if name.endswith("_rate"):
        return {**_rate_schema, "description": f"{definition} {_RATE_FORMAT}"}
    money = ("flow_revenue", "historic_clv", "predicted_clv", "average_order_value_first",
             "average_order_value_returning")
    if name in money:
        return {**_money, "description": definition}
    if name in ("purchase_frequency", "average_days_between_orders"):
        return {**_decimal, "description": f"{definition} A decimal string; null when its "
                                           "base is zero."}
    return {**_count, "description": definition}


_KPIS = {name: _kpi_schema(name) for name in KPI_DEFINITIONS}
_SERIES_KPIS = {name: _KPIS[name] for name in SERIES_KPIS}
_KPIS["predicted_clv_note"] = {"type": ["string", "null"], "description": (
    "Why predicted_clv is null: no customer has a prediction yet.")}
_date = {"type": "string", "format": "date"}
METRICS = {
    "type": "object",
    "required": ["from", "to", "currency", "revenue", "orders", "average_order_value",
                 "customers", "new_customers", "returning_customers", "repeat_purchase_rate",
                 "definitions", "series"],
    "properties": {
        "from": {**_date, "description": "First day of the range (store's time zone)."},
        "to": {**_date, "description": "Last day of the range, included."},
        "interval": {"enum": list(INTERVALS)},
        "timezone": {"type": "string", "description": "The store's IANA time zone."},
        "currency": {"type": "string"},
        **_FIGURES,
        **_KPIS,
        "repeat_purchase_rate": {
            **_rate_schema,
            "description": f"{DEFINITIONS['repeat_purchase_rate']} {_RATE_FORMAT}"},
        "definitions": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "One line per figure, saying what it counts."},
        "series": {"type": "array", "description": (
            "One entry per day, week (Monday to Sunday) or month of the range, in order, "
            "including those with nothing in them. Customers are counted per entry: "
            "returning ones had ordered before that day, week or month."),
            "items": {"type": "object", "properties": {
                "date": {**_date, "description": "The day, the Monday of the week, or the "
                                                 "first of the month."},
                "from": {**_date, "description": "First day of the range in this entry."},
                "to": {**_date, "description": "Last day of the range in this entry."},
                **_FIGURES, **_SERIES_KPIS}}},
        "previous": {"type": "object", "description": (
            "With compare=previous: the range of the same length just before, with the "
            "same KPIs as the range's."),
            "properties": {"from": _date, "to": _date, "revenue": _money, "orders": _count,
                           "average_order_value": _money, "new_customers": _count,
                           **_KPIS}},
    },
}
ACTIVITY = {
    "type": "object", "required": ["activity"],
    "properties": {"activity": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "kind": {"type": "string"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "customer": {"type": "object", "properties": {
            "id": {"type": "integer"}, "name": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]}}},
        "summary": {"type": "string",
                    "description": "What happened, as a sentence about the customer "
                                   "(\"placed order #1001 ($30.00)\")."},
    }}}},
}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    errors = {"400": {"description": "A parameter is invalid; `field` names it.",
                      **error_response},
              "401": {"description": "Missing or invalid credential.", **error_response}}
    return {
        "/api/metrics": {"get": {
            "summary": "The store's figures over a date range, with a series by day, week "
                       "or month.",
            "description": (
                "Dates are calendar days in the store's time zone. Without from/to: the "
                "last 30 days, today included (or the preset named by `range`). Orders "
                "count unless cancelled, voided or test orders; revenue is net of refunds, "
                f"on the day the order was placed. A range may span up to {MAX_YEARS} "
                "years."),
            "parameters": [
                {"name": "from", "in": "query", "schema": _date,
                 "description": "First day (YYYY-MM-DD)."},
                {"name": "to", "in": "query", "schema": _date,
                 "description": "Last day, included (default: today, if from is given)."},
                {"name": "interval", "in": "query", "schema": {"enum": list(INTERVALS)},
                 "description": "Series bucket; default: day up to 31 days, week up to "
                                "186, month beyond."},
                {"name": "range", "in": "query", "schema": {"enum": [
                    "today", "yesterday", "last_7_days", "last_30_days", "last_90_days",
                    "last_12_months", "this_year", "custom"]},
                 "description": "A preset, used when from and to are not given."},
                {"name": "compare", "in": "query", "schema": {"enum": list(COMPARE)},
                 "description": "Add `previous`: the range of the same length before."},
            ],
            "responses": {"200": {"description": "The figures.", "content": {
                "application/json": {"schema": METRICS}}}, **errors},
        }},
        "/api/activity": {"get": {
            "summary": "The store's latest activity (newest first), one sentence each.",
            "parameters": [{"name": "limit", "in": "query", "schema": {
                "type": "integer", "minimum": 1, "maximum": MAX_ACTIVITY_LIMIT,
                "default": ACTIVITY_LIMIT}}],
            "responses": {"200": {"description": "The newest timeline facts.", "content": {
                "application/json": {"schema": ACTIVITY}}}, **errors},
        }},
    }
