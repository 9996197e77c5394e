"""The OpenAPI description of `/api/flows` and `/api/messages` (joined by app/api/openapi.py).
A flow's definition is checked by `app.flows.definition.normalize`; the schemas here describe
it for readers and client generators."""

from __future__ import annotations

from typing import Any

from app.events.domain import KINDS
from app.flows.conditions import OPS, PROFILE_FIELDS
from app.flows.definition import DISCOUNT_KINDS, MAX_WAIT_MINUTES, SEND_TO, STEP_TYPES
from app.flows.service import HOLDOUT_MAX, NAME_MAX, REENTRY_MAX_DAYS

_time = {"type": ["string", "null"], "format": "date-time"}
CONDITION = {"type": "object", "description": (
    "{field, op, value}, {all: [...]}, {any: [...]} or {not: ...}. field: one of "
    + ", ".join(PROFILE_FIELDS) + ", or event.<name> (the trigger's facts). op: one of "
    + ", ".join(OPS) + ".")}
TRIGGER = {"type": "object", "required": ["type"], "description": (
    "{type: event, event: kind or [kinds]} (kinds: " + ", ".join(sorted(KINDS)) + "); "
    "{type: date, property: birthday, days_before}; {type: lapsed, factor, min_days, "
    "max_days}."), "properties": {"type": {"enum": ["event", "date", "lapsed"]}}}
STEP = {"type": "object", "required": ["type"], "description": (
    f"wait: {{minutes (0 to {MAX_WAIT_MINUTES})}} or {{until: HH:MM}} (shop time); split: "
    "{condition, yes: [steps], no: [steps]}; email: {subject, html, text (null: derived "
    "from the HTML), preheader} (Jinja2 sources, rendered in a sandbox); award_points: "
    "{points, reason}; discount: {kind (" + ", ".join(DISCOUNT_KINDS) + "), value, "
    "expires_after_days, minimum_order}; tag: {tag}. Ids are given on save when missing."),
    "properties": {"id": {"type": "string"}, "type": {"enum": list(STEP_TYPES)}}}
STATS = {"type": "object", "properties": {
    name: {"type": "integer"} for name in ("entered", "sent", "opened", "clicked",
                                           "converted", "unsubscribed")} | {
    "revenue": {"type": "string", "description": "Attributed revenue, shop currency."}}}
_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
    "status": {"enum": ["draft", "live", "paused"],
               "description": "live: triggers start runs; paused: runs in progress are "
                              "held and go on, sending nothing twice, when live again."},
    "category": {"enum": ["marketing", "transactional"],
                 "description": "Marketing mail goes only to subscribed shoppers and counts "
                                "for smart sending."},
    "trigger": TRIGGER,
    "trigger_filters": {"type": "array", "items": CONDITION,
                        "description": "Checked once, on the triggering event."},
    "flow_filters": {"type": "array", "items": CONDITION,
                     "description": "Checked on entry and before every message."},
    "steps": {"type": "array", "items": STEP},
    "send_to": {"enum": list(SEND_TO)},
    "smart_sending": {"type": "boolean"},
    "exit_on_order": {"type": "boolean"},
    "holdout_percent": {"type": "integer", "minimum": 0, "maximum": HOLDOUT_MAX},
    "reentry_days": {"type": ["integer", "null"], "minimum": 1, "maximum": REENTRY_MAX_DAYS,
                     "description": "null: a shopper enters once ever."},
}
FLOW = {"type": "object",
        "required": ["id", "key", "name", "status", "version", "trigger", "trigger_filters",
                     "flow_filters", "steps", "holdout_percent", "reentry_days", "stats"],
        "properties": {"id": {"type": "integer"}, "key": {"type": ["string", "null"]},
                       "version": {"type": "integer"}, **_FIELDS, "stats": STATS,
                       "updated_at": _time}}
FLOW_NEW = {"type": "object", "required": ["name", "trigger"], "properties": _FIELDS}
FLOW_CHANGES = {"type": "object", "properties": _FIELDS,
                "description": "A partial flow. id, key, version, stats and updated_at may "
                               "be sent back and are ignored; any other field is refused."}
MESSAGE = {"type": "object",
           "required": ["id", "flow_id", "step_id", "to", "subject", "status", "reason",
                        "sent_at", "opened_at", "clicked_at"],
           "properties": {
               "id": {"type": "integer"}, "flow_id": {"type": ["integer", "null"]},
               "step_id": {"type": ["string", "null"]},
               "customer_id": {"type": ["integer", "null"]},
               "to": {"type": "string"}, "subject": {"type": ["string", "null"]},
               "status": {"enum": ["queued", "sent", "skipped", "failed", "suppressed"]},
               "reason": {"type": ["string", "null"],
                          "description": "Why it was skipped, failed or suppressed."},
               "test": {"type": "boolean"}, "created_at": _time, "sent_at": _time,
               "opened_at": _time, "clicked_at": _time, "unsubscribed_at": _time}}
FIELD_ERRORS = {"type": "object", "required": ["status", "message", "errors"],
                "properties": {"status": {"type": "integer"}, "message": {"type": "string"},
                               "errors": {"type": "object",
                                          "additionalProperties": {"type": "string"},
                                          "description": "Why, by path (steps.2.minutes)."}}}


def openapi_paths(error_response: dict[str, Any]) -> dict[str, Any]:
    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"content": {"application/json": {"schema": schema}}}

    unauthorized = {"401": {"description": "Missing or invalid credential.", **error_response}}
    invalid = {"400": {"description": "Invalid; nothing was saved.", **body(FIELD_ERRORS)}}
    missing = {"404": {"description": "No such flow in this store.", **error_response}}
    flow_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    return {
        "/api/flows": {
            "get": {"summary": "The store's flows, built-ins first (installed as drafts on "
                               "the first look), with their figures.",
                    "responses": {"200": {"description": "The flows.", **body({
                        "type": "object", "required": ["flows"],
                        "properties": {"flows": {"type": "array", "items": FLOW}}})},
                        **unauthorized}},
            "post": {"summary": "Create a flow (a draft unless status says otherwise).",
                     "requestBody": {"required": True, **body(FLOW_NEW)},
                     "responses": {"201": {"description": "The flow.", **body(FLOW)},
                                   **invalid, **unauthorized}},
        },
        "/api/flows/{id}": {
            "get": {"summary": "One flow.", "parameters": flow_id,
                    "responses": {"200": {"description": "The flow.", **body(FLOW)},
                                  **unauthorized, **missing}},
            "put": {"summary": "Change a flow (a partial object); go live, pause or resume "
                               "with status.",
                    "description": "A changed definition is a new version: runs in progress "
                                   "finish on the version they started on.",
                    "parameters": flow_id,
                    "requestBody": {"required": True, **body(FLOW_CHANGES)},
                    "responses": {"200": {"description": "The flow now.", **body(FLOW)},
                                  **invalid, **unauthorized, **missing}},
        },
        "/api/flows/{id}/test-send": {"post": {
            "summary": "Send one email step now to an address (a test: counted nowhere).",
            "parameters": flow_id,
            "requestBody": {"required": True, **body({
                "type": "object", "required": ["email"], "properties": {
                    "email": {"type": "string", "format": "email"},
                    "step_id": {"type": "string",
                                "description": "Default: the flow's first email step."},
                    "customer_id": {"type": "integer",
                                    "description": "Render with this customer's data "
                                                   "(default: sample values)."}}})},
            "responses": {"201": {"description": "The test message.", **body(MESSAGE)},
                          **invalid, **unauthorized, **missing}}},
        "/api/messages": {"get": {
            "summary": "Flow emails, newest first.",
            "parameters": [
                {"name": "customer_id", "in": "query", "schema": {"type": "integer"}},
                {"name": "flow_id", "in": "query", "schema": {"type": "integer"}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                            "default": 100}}],
            "responses": {"200": {"description": "The messages.", **body({
                "type": "object", "required": ["messages"],
                "properties": {"messages": {"type": "array", "items": MESSAGE}}})},
                "400": {"description": "A parameter is invalid.", **body(FIELD_ERRORS)},
                **unauthorized}}},
    }
