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
