"""Creating, editing, pausing and resuming flows: the one place their rules live (the API and
the panel both come here).

Versions. Every save that changes the definition makes version N+1 (`flow_versions`). A run
records the version it started on and finishes on it: editing a live flow never changes what
a run in progress does next, and a step id that exists in no later version is never looked
up there. New runs start on the newest version.

Status. `draft` (never runs), `live` (triggers start runs, due steps run), `paused`
(no new runs; runs in progress are held where they are: their due steps wait). Resuming
makes the held steps due again as they were: a step whose time passed during the pause runs
at the next sweep. Nothing is sent twice, because a message is unique per (run, step).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.flows.definition import FlowInvalid, normalize
from app.flows.models import (
    DRAFT,
    FLOW_STATUSES,
    LIVE,
    MARKETING,
    PAUSED,
    TRANSACTIONAL,
    Flow,
    FlowVersion,
)

NAME_MAX = 120
HOLDOUT_MAX = 50
REENTRY_MAX_DAYS = 3650
# Fields of the API's F that a PUT may change; the definition's parts are among them.
DEFINITION_FIELDS = ("trigger", "trigger_filters", "flow_filters", "steps", "send_to",
                     "smart_sending", "exit_on_order")


def get_flow(session: Session, shop_id: int, flow_id: int) -> Flow | None:
    return session.scalar(select(Flow).where(Flow.shop_id == shop_id, Flow.id == flow_id))


def list_flows(session: Session, shop_id: int) -> list[Flow]:
    return list(session.scalars(select(Flow).where(Flow.shop_id == shop_id)
                                .order_by(Flow.key.is_(None), Flow.id)))


def definition_of(session: Session, flow_id: int, version: int) -> dict[str, Any]:
    """The definition a run on `version` follows."""
    return session.scalar(select(FlowVersion.definition).where(
        FlowVersion.flow_id == flow_id, FlowVersion.version == version))


def _check_fields(data: dict[str, Any], *, creating: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    if "name" in data or creating:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
            errors["name"] = f"a name of 1 to {NAME_MAX} characters"
    if "status" in data and data["status"] not in FLOW_STATUSES:
        errors["status"] = f"one of {', '.join(FLOW_STATUSES)}"
    if "category" in data and data["category"] not in (MARKETING, TRANSACTIONAL):
        errors["category"] = f"one of {MARKETING}, {TRANSACTIONAL}"
    if "holdout_percent" in data:
        value = data["holdout_percent"]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= HOLDOUT_MAX:
            errors["holdout_percent"] = f"a whole percentage from 0 to {HOLDOUT_MAX}"
    if "reentry_days" in data and data["reentry_days"] is not None:
        value = data["reentry_days"]
        if (not isinstance(value, int) or isinstance(value, bool)
                or not 0 <= value <= REENTRY_MAX_DAYS):
            errors["reentry_days"] = (f"null (a shopper enters once), 0 (every time it is "
                                      f"triggered) or a whole number of days from 1 to "
                                      f"{REENTRY_MAX_DAYS}")
    return errors


def _definition_from(data: dict[str, Any], base: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(base or {})
    for field in DEFINITION_FIELDS:
        if field in data:
            merged[field] = data[field]
    return normalize(merged)


def create_flow(session: Session, shop_id: int, data: dict[str, Any], *,
                key: str | None = None, saved_by: str | None = None) -> Flow:
    """A new flow (draft unless `status` says otherwise) and its version 1; raises
    FlowInvalid with every problem found."""
    errors = _check_fields(data, creating=True)
    try:
        definition = _definition_from(data, None)
    except FlowInvalid as exc:
        errors.update(exc.errors)
    if errors:
        raise FlowInvalid(errors)
    now = utcnow()
    category = data.get("category", MARKETING)
    if category == MARKETING:
        definition["send_to"] = "subscribed"
    flow = Flow(shop_id=shop_id, key=key, name=data["name"].strip(),
                status=data.get("status", DRAFT), version=1, category=category,
                definition=definition, holdout_percent=data.get("holdout_percent", 0),
                reentry_days=data.get("reentry_days"), created_at=now, updated_at=now,
                status_changed_at=now)
    session.add(flow)
    session.flush()
    session.add(FlowVersion(shop_id=shop_id, flow_id=flow.id, version=1, definition=definition,
                            saved_by=saved_by, created_at=now))
    session.flush()
    return flow


def update_flow(session: Session, flow: Flow, data: dict[str, Any], *,
                saved_by: str | None = None) -> Flow:
    """Apply a PUT: settings in place, a changed definition as a new version, a status change
    as `set_status`. All or nothing: raises FlowInvalid and changes nothing."""
    errors = _check_fields(data, creating=False)
    definition = None
    if any(field in data for field in DEFINITION_FIELDS):
        try:
            definition = _definition_from(data, flow.definition)
        except FlowInvalid as exc:
            errors.update(exc.errors)
    if errors:
        raise FlowInvalid(errors)
    if "name" in data:
        flow.name = data["name"].strip()
    if "category" in data:
        flow.category = data["category"]
    for field in ("holdout_percent", "reentry_days"):
        if field in data:
            setattr(flow, field, data[field])
    if flow.category == MARKETING:
        definition = dict(definition or flow.definition)
        definition["send_to"] = "subscribed"
    if definition is not None and definition != flow.definition:
        flow.version += 1
        flow.definition = definition
        session.add(FlowVersion(shop_id=flow.shop_id, flow_id=flow.id, version=flow.version,
                                definition=definition, saved_by=saved_by, created_at=utcnow()))
    if "status" in data and data["status"] != flow.status:
        set_status(session, flow, data["status"])
    flow.updated_at = utcnow()
    session.flush()
    return flow


def set_status(session: Session, flow: Flow, status: str) -> Flow:
    """Go live, pause or resume (live again), or back to draft. Runs in progress are held
    while the flow is not live (the sweep reads only live flows' runs) and go on from where
    they were when it is live again."""
    if status not in FLOW_STATUSES:
        raise FlowInvalid({"status": f"one of {', '.join(FLOW_STATUSES)}"})
    if status == LIVE:
        normalize(flow.definition)  # a flow never goes live on a definition now refused
    flow.status = status
    flow.status_changed_at = utcnow()
    session.flush()
    return flow


def pause(session: Session, flow: Flow) -> Flow:
    return set_status(session, flow, PAUSED)


def resume(session: Session, flow: Flow) -> Flow:
    return set_status(session, flow, LIVE)


def serialize(flow: Flow, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    """The API's F (stats from `app.flows.stats`, zeros when not given)."""
    d = flow.definition
    return {
        "id": flow.id, "key": flow.key, "name": flow.name, "status": flow.status,
        "version": flow.version, "category": flow.category,
        "trigger": d["trigger"], "trigger_filters": d["trigger_filters"],
        "flow_filters": d["flow_filters"], "steps": d["steps"], "send_to": d["send_to"],
        "smart_sending": d["smart_sending"], "exit_on_order": d["exit_on_order"],
        "holdout_percent": flow.holdout_percent, "reentry_days": flow.reentry_days,
        "stats": stats or {"entered": 0, "sent": 0, "opened": 0, "clicked": 0,
                           "converted": 0, "revenue": "0.00", "unsubscribed": 0},
        "updated_at": flow.updated_at.isoformat() if flow.updated_at else None,
    }
