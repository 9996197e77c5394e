"""The OpenAPI description of `/api/segments` (joined by app/api/openapi.py). Rules are
checked by `app.segments.rules.validate`; the schemas here describe them for readers."""

from __future__ import annotations

from typing import Any

from app.segments.models import NAME_MAX
from app.segments.rules import FIELDS, OP_LABELS, UNAVAILABLE

RULES = {"type": ["object", "array"], "description": (
    "{field, op, value}, {all: [...]}, {any: [...]} or {not: ...} (a list means all), "
    "evaluated when asked, as of that moment. Fields and their operators: "
    + "; ".join(f"{name} ({spec.help} ops: {', '.join(spec.ops)})"
                for name, spec in FIELDS.items())
    + ". Operators: " + "; ".join(f"{op}: {label}" for op, label in OP_LABELS.items())
    + ". Absolute dates are YYYY-MM-DD, days in the store's time zone; "
      "more_than_days_ago and within_last_days take a number of days. Not available: "
    + "; ".join(f"{name}: {why}" for name, why in UNAVAILABLE.items()) + ".")}
SEGMENT = {"type": "object",
           "required": ["id", "name", "rules", "builtin", "builtin_key"],
           "properties": {
               "id": {"type": "integer"},
               "name": {"type": "string", "maxLength": NAME_MAX},
               "rules": RULES,
               "builtin": {"type": "boolean",
                           "description": "A built-in RFM segment: cannot be changed or "
                                          "deleted."},
               "builtin_key": {"type": ["string", "null"], "description": "rfm:<group>"},
               "count": {"type": "integer", "description": "Customers matching now (live, "
                                                           "not deleted)."},
               "created_at": {"type": ["string", "null"], "format": "date-time"},
               "updated_at": {"type": ["string", "null"], "format": "date-time"}}}
FIELD_ERRORS = {"type": "object", "required": ["status", "message", "errors"],
                "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                               "errors": {"type": "object",
                                          "additionalProperties": {"type": "string"},
                                          "description": "Why, by path: name, "
                                                         "rules.all.0.value, ..."}}}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    unauthorized = {"401": {"description": "Missing or invalid credential.", **error_response}}
    invalid = {"400": {"description": "Invalid; nothing was saved.", **body(FIELD_ERRORS)}}
    missing = {"404": {"description": "No such segment in this store.", **error_response}}
    segment_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    changes = {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": NAME_MAX}, "rules": RULES}}
    return {
        "/api/segments": {
            "get": {"summary": "The store's segments with their live counts: its own by "
                               "name, then the built-in RFM segments (added on the first "
                               "look).",
                    "parameters": [{"name": "counts", "in": "query",
                                    "schema": {"enum": ["yes", "no"], "default": "yes"}}],
                    "responses": {"200": {"description": "The segments.", **body({
                        "type": "object", "properties": {"segments": {
                            "type": "array", "items": SEGMENT}}})}, **unauthorized}},
            "post": {"summary": "Save a segment.",
                     "requestBody": {"required": True, **body({**changes,
                                                               "required": ["name", "rules"]})},
                     "responses": {"201": {"description": "Saved.", **body(SEGMENT)},
                                   **invalid, **unauthorized}}},
        "/api/segments/{id}": {
            "get": {"summary": "One segment with its live count.", "parameters": segment_id,
                    "responses": {"200": {"description": "The segment.", **body(SEGMENT)},
                                  **missing, **unauthorized}},
            "put": {"summary": "Change a segment's name or rules (not a built-in).",
                    "parameters": segment_id,
                    "requestBody": {"required": True, **body(changes)},
                    "responses": {"200": {"description": "Saved.", **body(SEGMENT)},
                                  **invalid, **missing, **unauthorized}},
            "delete": {"summary": "Delete a segment.", "parameters": segment_id,
                       "responses": {"204": {"description": "Deleted."},
                                     "409": {"description": "A built-in, or flows filter "
                                                            "on it (named).",
                                             **error_response},
                                     **missing, **unauthorized}}},
        "/api/segments/preview": {
            "post": {"summary": "Count and show the customers rules match now, without "
                                "saving (the builder's live count).",
                     "requestBody": {"required": True, **body({
                         "type": "object", "required": ["rules"], "properties": {
                             "rules": RULES, "limit": {"type": "integer", "minimum": 0,
                                                       "maximum": 50, "default": 10}}})},
                     "responses": {"200": {"description": "The count and the first "
                                                          "customers, latest buyers first.",
                                           **body({"type": "object",
                                                   "required": ["count", "customers"],
                                                   "properties": {
                                                       "count": {"type": "integer"},
                                                       "customers": {"type": "array", "items": {
                                                           "$ref": "#/components/schemas/"
                                                                   "Customer"}}}})},
                                   **invalid, **unauthorized}}},
    }
