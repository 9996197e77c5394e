"""`GET /api/cohorts`: the retention matrix by month of first order, and revenue per cohort
(`app.analytics.cohorts`), the same figures the Analytics page draws."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from app.analytics.cohorts import DEFINITIONS, cohorts_json, store_cohorts
from app.analytics.periods import MAX_YEARS, MONTH, PeriodError, parse_period
from app.api import bp
from app.api.metrics import bad_request
from app.db import db
from app.settings.timezone import shop_zone

DEFAULT_RANGE = "last_12_months"


@bp.get("/cohorts")
def cohorts():
    args = request.args
    first, last = args.get("from"), args.get("to")
    preset = args.get("range") or (None if (first or last) else DEFAULT_RANGE)
    try:
        period = parse_period(shop_zone(db.session, g.shop), first=first, last=last,
                              interval=MONTH, preset=preset)
    except PeriodError as exc:
        return bad_request(exc.message, exc.field)
    return jsonify(cohorts_json(store_cohorts(db.session, g.shop, period)))


# -- OpenAPI (merged into /api/openapi.json by app.api.openapi) ----------------------------

_date = {"type": "string", "format": "date"}
_month = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
_money = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$"}
_count = {"type": "integer", "minimum": 0}
CELL = {"type": "object", "required": ["offset", "month", "customers", "retention",
                                       "revenue", "cumulative_revenue", "complete"],
        "properties": {
            "offset": {**_count, "description": "Months after the cohort's month (0: its "
                                                "own)."},
            "month": _month,
            "customers": {**_count, "description": "Month 0: customers with a second order "
                                                   "in it; later: with an order in it."},
            "retention": {"type": "string", "pattern": r"^[01]\.\d{4}$", "description": (
                f"{DEFINITIONS['month_0']} {DEFINITIONS['month_n']} A decimal string with 4 "
                "places.")},
            "orders": _count,
            "revenue": {**_money, "description": DEFINITIONS["revenue"]},
            "cumulative_revenue": {**_money, "description": DEFINITIONS["cumulative_revenue"]},
            "cumulative_revenue_per_customer": {
                **_money, "description": DEFINITIONS["cumulative_revenue_per_customer"]},
            "complete": {"type": "boolean", "description": "False for the current month, "
                                                           "still running."},
        }}
COHORTS = {
    "type": "object", "required": ["from", "to", "timezone", "currency", "as_of",
                                   "definitions", "cohorts"],
    "properties": {
        "from": _date, "to": _date, "timezone": {"type": "string"},
        "currency": {"type": "string"},
        "as_of": {**_date, "description": "The shop's today: cohorts are followed up to its "
                                          "month."},
        "definitions": {"type": "object", "additionalProperties": {"type": "string"}},
        "cohorts": {"type": "array", "description": "One per month of the range, oldest first.",
                    "items": {"type": "object", "required": ["month", "size", "months"],
                              "properties": {
                                  "month": {**_month, "description": DEFINITIONS["cohort"]},
                                  "size": {**_count, "description": DEFINITIONS["size"]},
                                  "revenue": _money, "revenue_per_customer": _money,
                                  "months": {"type": "array", "items": CELL}}}},
    },
}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    return {"/api/cohorts": {"get": {
        "summary": "Retention and revenue by cohort of first-order month.",
        "description": (
            "A cohort is the customers whose first counted order fell in a month (the "
            "store's time zone). The range chooses the cohorts (default: the last 12 "
            "months); each is followed up to the current month. Orders count unless "
            f"cancelled, voided or test orders; revenue is net of refunds. Up to {MAX_YEARS} "
            "years."),
        "parameters": [
            {"name": "from", "in": "query", "schema": _date,
             "description": "First day (YYYY-MM-DD): its month is the first cohort."},
            {"name": "to", "in": "query", "schema": _date,
             "description": "Last day, included (default: today, if from is given)."},
            {"name": "range", "in": "query", "schema": {"enum": [
                "today", "yesterday", "last_7_days", "last_30_days", "last_90_days",
                "last_12_months", "this_year", "custom"]},
             "description": "A preset, used when from and to are not given."},
        ],
        "responses": {
            "200": {"description": "The cohorts.",
                    "content": {"application/json": {"schema": COHORTS}}},
            "400": {"description": "A parameter is invalid; `field` names it.",
                    **error_response},
            "401": {"description": "Missing or invalid credential.", **error_response}},
    }}}
