"""`GET /api/openapi.json`: the API's OpenAPI 3.1 description (no authentication needed)."""

from __future__ import annotations

from flask import current_app, jsonify

from app.api import bp
from app.api.cohorts import openapi_paths as cohorts_paths
from app.api.flow_reports import openapi_paths as flow_report_paths
from app.api.flows_openapi import MESSAGE
from app.api.flows_openapi import openapi_paths as flows_paths
from app.api.loyalty import openapi_paths as loyalty_paths
from app.api.loyalty_points import openapi_paths as loyalty_points_paths
from app.api.metrics import openapi_paths as metrics_paths
from app.api.predictions import openapi_paths as predictions_paths
from app.api.redemptions import openapi_paths as redemption_paths
from app.api.referrals import openapi_paths as referrals_paths
from app.api.segments_openapi import openapi_paths as segments_paths
from app.customers.export import COLUMNS as EXPORT_COLUMNS

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
        "predicted_clv": {**_money, "description": "Expected spend over the next 365 days, "
                          "discounted at 10 % a year (BG/NBD × Gamma-Gamma); null until the "
                          "store's models are fitted."},
        "p_alive": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                    "description": "Probability the customer is still an active buyer."},
        **{f"expected_orders_{days}": {"type": ["number", "null"], "description": (
            f"Expected order days in the next {days} days.")} for days in (30, 90, 365)},
        "next_order_expected_at": {**_time, "description": "The day by which the expected "
                                   "number of orders reaches one; null if not within a year."},
        "predicted_spend_tier": {"enum": ["high", "medium", "low", None],
                                 "description": "The store's thirds of predicted CLV."},
        "is_guest": {"type": "boolean"},
        "deleted": {"type": "boolean"},
        "created_at": _time,
        "merchant_tags": {"type": "array", "items": {"type": "string"},
                          "description": "Tags the merchant added in Sticky (the store's own "
                                         "tags are `tags` on the profile)."},
    },
}

NOTE = {"type": "object", "required": ["id", "body", "author", "created_at"], "properties": {
    "id": {"type": "integer"},
    "body": {"type": "string", "minLength": 1, "maxLength": 5000},
    "author": {"type": ["string", "null"],
               "description": "Who wrote it: an account's email, \"Shopify staff\" or \"API\"."},
    "created_at": {"type": "string", "format": "date-time"}}}

TAG = {"type": "object", "required": ["id", "tag", "created_at"], "properties": {
    "id": {"type": "integer"},
    "tag": {"type": "string", "minLength": 1, "maxLength": 64},
    "created_at": {"type": "string", "format": "date-time"}}}

_LIST_FILTERS = [
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 255},
     "description": "Part of the name or email, of the store's or the merchant's tags, or of "
                    "a note (case-insensitive; % and _ are ordinary characters)."},
    {"name": "email", "in": "query", "schema": {"type": "string"},
     "description": "Exact email (case-insensitive)."},
    {"name": "segment", "in": "query", "schema": {"type": "string"},
     "description": "A saved segment's id (GET /api/segments), or an RFM group's name."},
    {"name": "tag", "in": "query", "schema": {"type": "string"},
     "description": "A merchant tag, whole (case-insensitive)."},
    {"name": "has_orders", "in": "query", "schema": {"enum": ["yes", "no"]},
     "description": "Whether the customer has a counted order (not cancelled or voided)."},
    {"name": "email_marketing", "in": "query",
     "schema": {"enum": ["subscribed", "unsubscribed", "not_subscribed"]}},
    {"name": "last_order_from", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "Last order on or after this day, in the store's time zone."},
    {"name": "last_order_to", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "Last order on or before this day, in the store's time zone."},
    {"name": "min_spent", "in": "query", "schema": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
     "description": "Total spent at least this (decimal, shop currency)."},
    {"name": "max_spent", "in": "query", "schema": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
     "description": "Total spent at most this (decimal, shop currency)."},
    {"name": "sort", "in": "query", "schema": {"enum": [
        f"{sign}{key}" for key in ("last_order_at", "total_spent", "orders_count", "name",
                                   "email", "created_at") for sign in ("", "-")],
        "default": "-last_order_at"},
     "description": "Sort key; a leading - sorts descending. A customer without orders "
                    "counts as the oldest last order; blank names and emails sort last."},
]

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


_id_parameter = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}


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
            "schemas": {"Customer": CUSTOMER, "Note": NOTE, "Tag": TAG, "Error": ERROR},
        },
        "paths": {
            "/api/customers": {"get": {
                "summary": "List customer profiles, most recent buyers first.",
                "description": "Profiles deleted in the store are left out. The admin "
                               "panel's customer list is the same query.",
                "parameters": [
                    *_LIST_FILTERS,
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
            "/api/customers/export.csv": {"get": {
                "summary": "Every customer the list's filters match, as CSV, in its order.",
                "description": "Streamed as it is read. UTF-8 with a byte-order mark; "
                               "columns: " + ", ".join(EXPORT_COLUMNS) + ". A text cell "
                               "starting with =, +, -, @, tab or carriage return gets a "
                               "leading apostrophe, so spreadsheets never run it as a "
                               "formula.",
                "parameters": _LIST_FILTERS,
                "responses": {
                    "200": {"description": "The CSV file (attachment).",
                            "headers": {"X-Total-Rows": {
                                "description": "Customers in the file, counted before it "
                                               "is sent (for progress).",
                                "schema": {"type": "integer"}}},
                            "content": {"text/csv": {"schema": {"type": "string"}}}},
                    "400": {"description": "A filter is invalid.", **error_response},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                },
            }},
            "/api/customers/{id}/notes": {"post": {
                "summary": "Add a note to a customer (author \"API\"); it joins the timeline.",
                "parameters": [_id_parameter],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["body"], "properties": {
                        "body": {"type": "string", "description": "1 to 5,000 characters "
                                                                  "after trimming."}}}}}},
                "responses": {
                    "201": {"description": "The note.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Note"}}}},
                    "400": {"description": "The body is missing or invalid.", **error_response},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                    "404": {"description": "No such customer in this store.", **error_response},
                },
            }},
            "/api/customers/{id}/tags": {"post": {
                "summary": "Tag a customer. A tag is unique per customer in any letter case.",
                "parameters": [_id_parameter],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["tag"], "properties": {
                        "tag": {"type": "string", "description": "1 to 64 characters after "
                                                                 "trimming, no comma."}}}}}},
                "responses": {
                    "201": {"description": "The new tag.", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Tag"}}}},
                    "200": {"description": "The customer already had this tag: it, unchanged.",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Tag"}}}},
                    "400": {"description": "The tag is missing or invalid.", **error_response},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                    "404": {"description": "No such customer in this store.", **error_response},
                },
            }},
            "/api/customers/{id}/tags/{tag}": {"delete": {
                "summary": "Remove a merchant tag from a customer (matched in any case).",
                "parameters": [_id_parameter, {"name": "tag", "in": "path", "required": True,
                                               "schema": {"type": "string"}}],
                "responses": {
                    "204": {"description": "Removed (and noted on the timeline)."},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                    "404": {"description": "No such customer, or no such tag on them.",
                            **error_response},
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
                "summary": "One customer with orders, carts, timeline, notes, merchant tags, "
                           "points ledger, messages.",
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
                                "notes": {"type": "array", "description": "Newest first.",
                                          "items": {"$ref": "#/components/schemas/Note"}},
                                "merchant_tags": {"type": "array",
                                                  "items": {"type": "string"}},
                                "points_ledger": {"type": "array", "items": {"type": "object"}},
                                "messages": {"type": "array", "items": MESSAGE,
                                             "description": "Flow emails, newest first."},
                            }}]}}}},
                    "401": {"description": "Missing or invalid credential.", **error_response},
                    "404": {"description": "No such customer in this store.", **error_response},
                },
            }},
            **metrics_paths(error_response),
            **cohorts_paths(error_response),
            **redemption_paths(error_response),
            **referrals_paths(error_response),
            **loyalty_paths(error_response),
            **loyalty_points_paths(error_response),
            **flows_paths(error_response),
            **flow_report_paths(error_response),
            **segments_paths(error_response),
            **predictions_paths(error_response),
        },
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
