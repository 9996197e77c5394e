"""`GET /api/openapi.json`: the API's OpenAPI 3.1 description (no authentication needed)."""

from __future__ import annotations

from flask import current_app, jsonify

from app.api import bp
from app.api.metrics import openapi_paths as metrics_paths

_money = {"type": ["string", "null"], "pattern": r"^-?\d+(\.\d+)?$",
          "description": "Decimal amount as a string, in the shop's currency."}
_time = {"type": ["string", "null"], "format": "date-time"}

CUSTOMER = {
    "type": "object",
    "required": ["id", "email", "first_name", "last_name", "orders_count", "total_spent",
                 "first_order_at", "last_order_at", "points_balance", "tier",
                 "email_marketing", "rfm_segment", "churn_risk", "predicted_clv"],
    "properties": {
        "id": {"type": "integer", "description": "Sticky's id for the profile."},
        "platform_id": {"type": ["string", "null"],
                        "description": "The store platform's customer id (string: Shopify ids "
                                       "exceed 2^53). Null for a guest."},
        "email": {"type": ["string", "null"]},
        "first_name": {"type": ["string", "null"]},
        "last_name": {"type": ["string", "null"]},
        "orders_count": {"type": "integer",
                         "description": "Orders not cancelled, voided or test orders."},
        "total_spent": {**_money, "description": "Sum of counted orders, net of refunds."},
        "average_order_value": _money,
        "currency": {"type": "string"},
        "first_order_at": _time,
        "last_order_at": _time,
        "points_balance": {"type": "integer"},
        "tier": {"type": ["string", "null"]},
        "email_marketing": {"enum": ["subscribed", "unsubscribed", "not_subscribed"]},
        "rfm_segment": {"type": ["string", "null"]},
        "churn_risk": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "predicted_clv": _money,
        "is_guest": {"type": "boolean"},
        "deleted": {"type": "boolean"},
        "created_at": _time,
    },
}

BACKFILL = {
    "type": "object",
    "required": ["status", "processed", "total", "started_at", "finished_at", "error"],
    "properties": {
        "status": {"type": "string",
                   "enum": ["none", "queued", "running", "completed", "failed"]},
        "processed": {"type": "integer", "description": "Orders and customers applied so far."},
        "total": {"type": ["integer", "null"], "description": "Expected total, if known."},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "error": {"type": ["string", "null"], "description": "Why the last attempt failed."},
    },
}

COMPLIANCE_EXPORT = {
    "type": "object",
    "required": ["id", "data_request_id", "customer", "counts", "requested_at", "created_at",
                 "download"],
    "properties": {
        "id": {"type": "integer"},
        "data_request_id": {"type": ["string", "null"],
                            "description": "Shopify's data_request.id."},
        "customer": {"type": "object", "properties": {"id": {"type": ["string", "null"]},
                                                      "email": {"type": ["string", "null"]}}},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "requested_at": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "download": {"type": "string", "description": "Path of the JSON export."},
    },
}

ERROR = {"type": "object", "required": ["status", "message"],
         "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}}

_CLOCK = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_SETTINGS_FIELDS = {
    "sender_name": {"type": "string", "minLength": 1, "maxLength": 100,
                    "description": "The From name of flow emails: one line of printable "
                                   "characters. Default: the store's name. PUT null to go "
                                   "back to following the store's name."},
    "sender_email": {"type": ["string", "null"], "format": "email",
                     "description": "The From address. Unset (null) by default: flows cannot "
                                    "send until it is set. Checked for syntax only."},
    "reply_to": {"type": ["string", "null"], "format": "email",
                 "description": "Where replies go; null: to the sender address."},
    "timezone": {"type": "string",
                 "description": "IANA time zone the store's days and quiet hours follow. GET "
                                "gives the zone in effect; PUT null to follow the platform's "
                                "zone again."},
    "smart_sending_hours": {"type": "integer", "minimum": 0, "maximum": 168,
                            "description": "A customer gets at most one flow email in this "
                                           "many hours (0: no limit). Default 16."},
    "quiet_hours": {"type": ["object", "null"], "required": ["start", "end"],
                    "additionalProperties": False,
                    "properties": {"start": _CLOCK, "end": _CLOCK},
                    "description": "No flow email is sent between start and end (store time; "
                                   "may span midnight; start and end differ). Null: none."},
    "attribution_click_days": {"type": "integer", "minimum": 0, "maximum": 90,
                               "description": "An order within this many days of a click on "
                                              "an email counts for that email. Default 5."},
    "attribution_open_days": {"type": "integer", "minimum": 0, "maximum": 90,
                              "description": "An order within this many days of an open "
                                             "counts for that email. Default 1."},
}
SETTINGS = {
    "type": "object",
    "required": list(_SETTINGS_FIELDS),
    "properties": {
        **_SETTINGS_FIELDS,
        "timezone_source": {"enum": ["sticky", "platform", "utc"],
                            "description": "Where `timezone` comes from: set in Sticky, the "
                                           "store platform's, or UTC (neither known)."},
        "platform_timezone": {"type": ["string", "null"]},
        "can_send": {"type": "boolean", "description": "Whether a sender email is set."},
        "updated_at": _time,
    },
}
SETTINGS_CHANGES = {
    "type": "object", "additionalProperties": False,
    "properties": {**_SETTINGS_FIELDS,
                   "sender_name": {**_SETTINGS_FIELDS["sender_name"],
                                   "type": ["string", "null"]},
                   "timezone": {**_SETTINGS_FIELDS["timezone"], "type": ["string", "null"]}},
}
SETTINGS_ERROR = {"type": "object", "required": ["status", "message", "errors"],
                  "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                                 "errors": {"type": "object",
                                            "additionalProperties": {"type": "string"},
                                            "description": "Why, per field (quiet_hours.start "
                                                           "for a part of one)."}}}


def spec() -> dict:
    error_response = {"content": {"application/json": {"schema": {"$ref":
                                                                   "#/components/schemas/Error"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sticky API", "version": "1",
                 "description": "Read the profile store of the store your credential belongs "
                                "to. Authenticate with `Authorization: Bearer <token>`: a "
                                "Shopify App Bridge session token, or an API key from "
                                "`flask --app app shops api-key STORE`."},
        "servers": [{"url": current_app.config["APP_URL"]}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Customer": CUSTOMER, "Error": ERROR},
        },
        "paths": {
            "/api/customers": {"get": {
                "summary": "List customer profiles, most recent buyers first.",
                "parameters": [
                    {"name": "email", "in": "query", "schema": {"type": "string"},
                     "description": "Exact email (case-insensitive)."},
                    {"name": "q", "in": "query", "schema": {"type": "string"},
                     "description": "Substring of email or name."},
                    {"name": "segment", "in": "query", "schema": {"type": "string"},
                     "description": "RFM segment."},
                    {"name": "page", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "default": 1}},
                    {"name": "per_page", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 250, "default": 50}},
                ],
                "responses": {
                    "200": {"description": "A page of customers.", "content": {
                        "application/json": {"schema": {
                            "type": "object", "required": ["customers", "total"],
                            "properties": {
                                "customers": {"type": "array", "items": {
                                    "$ref": "#/components/schemas/Customer"}},
                                "total": {"type": "integer"},
                                "page": {"type": "integer"},
                                "per_page": {"type": "integer"},
                            }}}}},
                    "400": {"description": "A parameter is invalid.", **error_response},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                },
            }},
            "/api/backfill": {"get": {
                "summary": "Progress of the store's history import (its newest run).",
                "responses": {
                    "200": {"description": "The newest backfill run, or status none.",
                            "content": {"application/json": {"schema": BACKFILL}}},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                },
            }},
            "/api/settings": {
                "get": {
                    "summary": "The store's sender identity, time zone and sending policy.",
                    "responses": {
                        "200": {"description": "The settings in effect (defaults filled in).",
                                "content": {"application/json": {"schema": SETTINGS}}},
                        "401": {"description": "Missing or invalid credential.",
                                **error_response},
                    },
                },
                "put": {
                    "summary": "Change some settings (a partial object).",
                    "description": "Fields left out keep their values. An unknown field or a "
                                   "wrong value is a 400 naming it, and then nothing changes.",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": SETTINGS_CHANGES}}},
                    "responses": {
                        "200": {"description": "The settings now in effect.",
                                "content": {"application/json": {"schema": SETTINGS}}},
                        "400": {"description": "An unknown field or an invalid value.",
                                "content": {"application/json": {"schema": SETTINGS_ERROR}}},
                        "401": {"description": "Missing or invalid credential.",
                                **error_response},
                    },
                },
            },
            "/api/compliance/exports": {"get": {
                "summary": "Customer data requests answered for this store (newest first).",
                "description": "Each Shopify customers/data_request produces one export of "
                               "everything Sticky holds on that customer. A later "
                               "customers/redact deletes it.",
                "responses": {
                    "200": {"description": "The exports.", "content": {"application/json": {
                        "schema": {"type": "object", "required": ["exports"], "properties": {
                            "exports": {"type": "array", "items": COMPLIANCE_EXPORT}}}}}},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                },
            }},
            "/api/compliance/exports/{id}": {"get": {
                "summary": "Download one data-request export (JSON attachment).",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "Profiles, consent, orders with lines, refunds, "
                                           "carts and timeline of the customer.",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                    "404": {"description": "No such export in this store.", **error_response},
                },
            }},
            "/api/customers/{id}": {"get": {
                "summary": "One customer with orders, carts, timeline, points ledger, messages.",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "The customer.", "content": {"application/json": {
                        "schema": {"allOf": [{"$ref": "#/components/schemas/Customer"}, {
                            "type": "object",
                            "required": ["orders", "timeline", "points_ledger", "messages"],
                            "properties": {
                                "orders": {"type": "array", "items": {"type": "object"}},
                                "carts": {"type": "array", "items": {"type": "object"}},
                                "timeline": {"type": "array", "items": {"type": "object"}},
                                "points_ledger": {"type": "array", "items": {"type": "object"}},
                                "messages": {"type": "array", "items": {"type": "object"}},
                            }}]}}}},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                    "404": {"description": "No such customer in this store.", **error_response},
                },
            }},
            **metrics_paths(error_response),
        },
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
