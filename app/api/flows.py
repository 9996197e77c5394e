"""`/api/flows`: the store's flows (shape F in DESIGN.md), created and edited through
`app.flows.service` as the panel's flow editor is, and a test send of one email step.

Errors are a 400 naming each problem by its path (`steps.2.minutes`,
`flow_filters.0.value`), and nothing is saved. Another store's flow is a 404."""

from __future__ import annotations

from typing import Any

import orjson
from flask import g, jsonify, request

from app.api import bp
from app.db import db
from app.flows.catalog import (
    checked_address,
    serialized,
    store_flows,
    test_send_refusals,
)
from app.flows.definition import FlowInvalid, Plan
from app.flows.sending import test_send
from app.flows.service import DEFINITION_FIELDS, create_flow, get_flow, update_flow

API_AUTHOR = "API"
# What a PUT may change; what GET gives besides is read-only, accepted back and ignored, so a
# client can PUT what it read.
WRITABLE = ("name", "status", "category", "holdout_percent", "reentry_days", *DEFINITION_FIELDS)
READ_ONLY = ("id", "key", "version", "stats", "updated_at")


def _invalid(message: str, errors: dict[str, str]):
    db.session.rollback()
    return jsonify({"status": 400, "message": message, "errors": errors}), 400


def _body(example: str) -> tuple[dict[str, Any] | None, Any]:
    """The decoded JSON object, or a 400 response."""
    try:
        # orjson: a body nested past its limit is a decode error, not a RecursionError (500).
        data = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        return None, _invalid(f"body: send a JSON object, e.g. {example}",
                              {"body": "is not JSON"})
    if not isinstance(data, dict):
        return None, _invalid(f"body: send a JSON object, e.g. {example}",
                              {"body": "must be a JSON object"})
    unknown = [k for k in data if k not in WRITABLE and k not in READ_ONLY]
    if unknown:
        return None, _invalid(f"{unknown[0]}: unknown field",
                              {k: f"unknown field: a flow has {', '.join(WRITABLE)}"
                               for k in unknown})
    return {k: v for k, v in data.items() if k in WRITABLE}, None


def _not_found(flow_id: int):
    return jsonify({"status": 404, "message": f"no flow {flow_id} in this store"}), 404


def _one(flow) -> dict[str, Any]:
    return serialized(db.session, g.shop.id, [flow])[0]


@bp.get("/flows")
def list_flows_route():
    flows = store_flows(db.session, g.shop.id)
    body = {"flows": serialized(db.session, g.shop.id, flows)}
    db.session.commit()  # the built-ins, installed on the store's first look
    return jsonify(body)


@bp.post("/flows")
def create_flow_route():
    data, error = _body('{"name": "Thank you", "trigger": {"type": "event", '
                        '"event": "order_placed"}, "steps": []}')
    if error:
        return error
    try:
        flow = create_flow(db.session, g.shop.id, data, saved_by=API_AUTHOR)
    except FlowInvalid as exc:
        return _invalid(str(exc), exc.errors)
    body = _one(flow)
    db.session.commit()
    return jsonify(body), 201


@bp.get("/flows/<int:flow_id>")
def get_flow_route(flow_id: int):
    flow = get_flow(db.session, g.shop.id, flow_id)
    return _not_found(flow_id) if flow is None else jsonify(_one(flow))


@bp.put("/flows/<int:flow_id>")
def update_flow_route(flow_id: int):
    """A partial flow: the fields it holds change. A changed definition is a new version;
    runs in progress finish on the version they started on."""
    flow = get_flow(db.session, g.shop.id, flow_id)
    if flow is None:
        return _not_found(flow_id)
    data, error = _body('{"status": "live"}')
    if error:
        return error
    try:
        update_flow(db.session, flow, data, saved_by=API_AUTHOR)
    except FlowInvalid as exc:
        return _invalid(str(exc), exc.errors)
    body = _one(flow)
    db.session.commit()
    return jsonify(body)


def email_step_or_error(flow, step_id: Any) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The email step to test (the first one when `step_id` is not given), or errors."""
    plan = Plan(flow.definition)
    if step_id is None:
        steps = plan.email_steps()
        if not steps:
            return None, {"step_id": "this flow has no email step to send"}
        return steps[0], {}
    if not isinstance(step_id, str) or step_id not in plan:
        return None, {"step_id": f"this flow has no step {step_id!r}"}
    step = plan.step(step_id)
    if step["type"] != "email":
        return None, {"step_id": f"step {step_id!r} is a {step['type']} step, not an email"}
    return step, {}


@bp.post("/flows/<int:flow_id>/test-send")
def test_send_route(flow_id: int):
    """Send one email step (the first by default) to the given address, now, rendered with
    a real customer's data when `customer_id` is given (else the sample values); marked as a
    test, it counts in no figure and never blocks a shopper's mail."""
    flow = get_flow(db.session, g.shop.id, flow_id)
    if flow is None:
        return _not_found(flow_id)
    try:
        data = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return _invalid('body: send a JSON object, e.g. {"email": "you@yourstore.com"}',
                        {"body": "must be a JSON object"})
    errors: dict[str, str] = {}
    to, why = checked_address(data.get("email"))
    if why:
        errors["email"] = why
    step, step_errors = email_step_or_error(flow, data.get("step_id"))
    errors.update(step_errors)
    customer_id = data.get("customer_id")
    if customer_id is not None and (not isinstance(customer_id, int)
                                    or isinstance(customer_id, bool)):
        errors["customer_id"] = "a customer's id (a whole number), or leave it out"
    if errors:
        return _invalid("; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    if customer_id is not None:
        from app.customers.profile import get_customer

        if get_customer(db.session, g.shop.id, customer_id) is None:
            return _invalid(f"customer_id: no customer {customer_id} in this store",
                            {"customer_id": f"no customer {customer_id} in this store"})
    try:
        message = test_send(db.session, g.shop, flow, step["id"], to, customer_id=customer_id)
    except test_send_refusals() as exc:
        fields = getattr(exc, "errors", None) or {"step_id": str(exc)}
        return _invalid(str(exc), {k if k == "step_id" else f"steps.{step['id']}.{k}": v
                                   for k, v in fields.items()})
    from app.flows.history import message_json

    body = message_json(message)
    db.session.commit()
    return jsonify(body), 201
