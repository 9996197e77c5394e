"""`/admin/flows` (the store's flows with their figures, and a new flow) and
`/admin/flows/<id>` (the flow editor: trigger, filters, steps, policy, go live / pause /
resume, per-step figures, the holdout's report and a backtest). Saves go through
`app.flows.service`, as `/api/flows` does: validated whole, versioned, never half-saved."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, g, redirect, render_template, request
from sqlalchemy.orm import Session

from app.db import db, utcnow
from app.flows import backtest
from app.flows.candidates import uses_churn_risk
from app.flows.catalog import figures, step_figures, store_flows, top_recipients
from app.flows.definition import FlowInvalid
from app.flows.holdout import report as holdout_report
from app.flows.models import LIVE, PAUSED, Flow
from app.flows.service import DEFINITION_FIELDS, create_flow, get_flow, set_status, update_flow
from app.money import money_text
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.panel.flow_conditions import EVENT_LABELS, MAX_FILTERS, OP_LABELS
from app.panel.flow_forms import CreateFlowForm, FlowForm, JsonForm
from app.panel.flow_steps import STEP_LABELS, apply_op, complex_filters, walk_rows
from app.segments.service import saved_segments
from app.settings.service import read_settings

FIGURES = (("entered", "Entered", "Shoppers who started the flow (holdout included)."),
           ("sent", "Sent", "Emails handed to the mail server."),
           ("opened", "Opened", "Emails opened at least once (images shown)."),
           ("clicked", "Clicked", "Emails with a link clicked."),
           ("converted", "Converted", "Orders attributed to the flow's emails, last touch."),
           ("revenue", "Revenue", "Those orders' totals."),
           ("unsubscribed", "Unsubscribed", "Shoppers who unsubscribed from its emails."))
STEP_FIGURES = (("done", "Done"), ("held_out", "Held out"), ("sent", "Sent"),
                ("skipped", "Skipped"), ("failed", "Failed"), ("suppressed", "Suppressed"),
                ("opened", "Opened"), ("clicked", "Clicked"), ("converted", "Converted"),
                ("revenue", "Revenue"), ("unsubscribed", "Unsubscribed"))
BACKTEST_COUNTS = (("triggered", "Triggers in the period"), ("entered", "Would have entered"),
                   ("filtered", "Filtered out"), ("reentry_blocked", "Blocked by re-entry"),
                   ("held_out", "Held out"), ("smart_sending_skipped",
                                              "Skipped by smart sending"),
                   ("no_consent", "No consent"), ("suppressed", "Suppressed address"),
                   ("completed", "Would have completed"), ("in_progress", "Still in progress"))
BACKTEST_KNOWN = {key for key, _ in BACKTEST_COUNTS} | {
    "flow_id", "days", "held_out_expected", "exited", "steps", "approximations", "available",
    "reason"}
STATUS_BADGES = {"draft": ("Draft", None), "live": ("Live", "success"),
                 "paused": ("Paused", "attention")}


def money(value: Any) -> str:
    try:
        return money_text(Decimal(str(value or "0")), g.shop.currency)
    except InvalidOperation:
        return str(value)


def money_or_dash(value: Any) -> str:
    return "—" if value is None else money(value)


def percent(rate: Any) -> str:
    """"12.5%" for a rate of 0.125 (a number or a decimal string); "—" when unknown."""
    try:
        return f"{Decimal(str(rate)) * 100:.1f}%" if rate is not None else "—"
    except InvalidOperation:
        return "—"


def describe_trigger(trigger: dict[str, Any], by_churn_risk: bool = False) -> str:
    kind = trigger.get("type")
    if kind == "event":
        events = trigger.get("event")
        events = events if isinstance(events, list) else [events]
        return " or ".join(EVENT_LABELS.get(e, str(e)) for e in events)
    if kind == "date":
        days = trigger.get("days_before", 0)
        return "Birthday" + (f", {days} days before" if days else "")
    if kind == "lapsed":
        interval = (f"{trigger.get('factor', 2)}× their usual interval between orders "
                    f"({trigger.get('min_days', 30)} to {trigger.get('max_days', 730)} days)")
        if trigger.get("basis") != "churn_risk":
            return f"Lapsed: {interval}"
        threshold = f"predicted churn risk above {float(trigger.get('above', 0.5)):.0%}"
        if by_churn_risk:
            return (f"Lapsed: {threshold} (in use: the store's prediction model is fitted), "
                    f"last order at least {trigger.get('min_days', 30)} days ago; shoppers "
                    f"with no repeat order yet: {interval}")
        return (f"Lapsed: {interval} (until the store's prediction model is fitted; then "
                f"{threshold})")
    return "—"


def shop_trigger_description(trigger: dict[str, Any]) -> str:
    """describe_trigger for the current store (says which lapsed basis is in use)."""
    return describe_trigger(trigger, by_churn_risk=uses_churn_risk(db.session, g.shop.id,
                                                                   trigger))


def _flow_or_404(flow_id: int) -> Flow:
    flow = get_flow(db.session, g.shop.id, flow_id)
    if flow is None:
        abort(404, description=f"This store has no flow {flow_id}.")
    return flow


@bp.get("/admin/flows")
@panel_page
def flows():
    session: Session = db.session
    rows = store_flows(session, g.shop.id)
    session.commit()  # the built-ins, installed on the store's first look
    return _list_page(rows, CreateFlowForm(formdata=None))


def _list_page(rows: list[Flow], form: CreateFlowForm, status: int = 200):
    stats = figures(db.session, g.shop.id, [f.id for f in rows])
    return render_template(
        "panel/flows.html", flows=rows, stats=stats, figures=FIGURES, form=form,
        badges=STATUS_BADGES, describe_trigger=shop_trigger_description, money=money,
        can_send=read_settings(db.session, g.shop).can_send), status


@bp.post("/admin/flows")
@panel_page
def flow_new():
    session: Session = db.session
    form = CreateFlowForm()
    data = {"name": form.name.data or "",
            "trigger": {"type": "event", "event": form.trigger_event.data}, "steps": []}
    try:
        flow = create_flow(session, g.shop.id, data, saved_by=g.panel.author)
    except FlowInvalid as exc:
        session.rollback()
        for key, reason in exc.errors.items():
            field = form.name if key == "name" else form.trigger_event
            field.errors = [reason[:1].upper() + reason[1:] + "."]
        return _list_page(store_flows(session, g.shop.id), form, 400)
    session.commit()
    flash(f"Flow “{flow.name}” created as a draft: add its steps, then go live.", "success")
    return redirect(panel_url("panel.flow", flow_id=flow.id))


def editor_page(flow: Flow, form: FlowForm, *, status: int = 200, loose: list[str] = (),
                unsaved: bool = False, json_form: JsonForm | None = None,
                json_errors: dict[str, str] | None = None, backtest: Any = None):
    session: Session = db.session
    if json_form is None:
        json_form = JsonForm(formdata=None)
        json_form.definition.data = json.dumps(
            {k: flow.definition.get(k) for k in DEFINITION_FIELDS}, indent=2)
    holdout = holdout_report(session, g.shop.id, flow.id, utcnow())
    stats = figures(session, g.shop.id, [flow.id]).get(flow.id, {})
    kept = complex_filters(flow.definition)
    return render_template(
        "panel/flow.html", flow=flow, form=form, loose_errors=list(loose), unsaved=unsaved,
        refused=status == 400 and json_errors is None,
        json_form=json_form, json_errors=json_errors or {}, backtest=backtest,
        holdout=holdout, stats=stats, figures=FIGURES,
        step_stats=step_figures(session, g.shop.id, flow.id), step_labels=STEP_LABELS,
        recipients=top_recipients(session, g.shop.id, flow.id),
        op_labels=OP_LABELS, badges=STATUS_BADGES, money=money, kept_filters=kept,
        max_filters=MAX_FILTERS, describe_trigger=shop_trigger_description,
        can_send=read_settings(session, g.shop).can_send,
        backtest_labels=BACKTEST_COUNTS, backtest_known=BACKTEST_KNOWN,
        step_figure_labels=STEP_FIGURES, percent=percent, money_or_dash=money_or_dash,
        segments=saved_segments(session, g.shop.id), active_nav="panel.flows"), status


@bp.get("/admin/flows/<int:flow_id>")
@panel_page
def flow(flow_id: int):
    row = _flow_or_404(flow_id)
    form = FlowForm(formdata=None)
    form.fill(row, row.definition)
    return editor_page(row, form)


def _filter_op(form: FlowForm, op: str) -> str | None:
    """`add_filter:<list>` or `remove_filter:<list>:<row>`."""
    parts = op.split(":")
    if parts[1:2] not in (["trigger_filters"], ["flow_filters"]):
        return "That button is not one Sticky knows; reload the page."
    rows = getattr(form, parts[1])
    if parts[0] == "add_filter":
        if len(rows.entries) >= MAX_FILTERS:
            return f"A flow has at most {MAX_FILTERS} filters of each kind."
        rows.append_entry()
    elif len(parts) == 3 and parts[2].isdigit() and int(parts[2]) < len(rows.entries):
        del rows.entries[int(parts[2])]
    return None


@bp.post("/admin/flows/<int:flow_id>")
@panel_page
def flow_save(flow_id: int):
    session: Session = db.session
    row = _flow_or_404(flow_id)
    form = FlowForm()
    saved_steps = row.definition.get("steps", [])
    op = request.form.get("op", "")
    if op.startswith("add:") and op.count(":") == 2:
        # "add:<split id>:<branch>", with the step's type from the select beside it
        _, parent, branch = op.split(":")
        op = f"add:{request.form.get(f'new_type:{parent}:{branch}', '')}:{parent}:{branch}"
    if op:
        steps = form.tree({s["id"]: s for s in walk_rows(saved_steps)})
        why = (_filter_op(form, op) if op.startswith(("add_filter:", "remove_filter:"))
               else apply_op(steps, op))
        form.set_rows(steps)
        return editor_page(row, form, unsaved=True, loose=[why] if why else [])
    body = form.changes(saved_steps, complex_filters(row.definition),
                        row.definition.get("trigger") or {})
    try:
        update_flow(session, row, body, saved_by=g.panel.author)
    except FlowInvalid as exc:
        session.rollback()
        row = _flow_or_404(flow_id)
        form.set_rows(body["steps"])
        loose = form.show_errors(exc.errors)
        return editor_page(row, form, status=400, loose=loose)
    name, version = row.name, row.version
    session.commit()
    flash(f"“{name}” saved (version {version}). Runs in progress finish on the version they "
          "started on.", "success")
    return redirect(panel_url("panel.flow", flow_id=flow_id))


@bp.post("/admin/flows/<int:flow_id>/json")
@panel_page
def flow_save_json(flow_id: int):
    """The advanced view: the definition as JSON, saved like any edit."""
    session: Session = db.session
    row = _flow_or_404(flow_id)
    json_form = JsonForm()
    try:
        data = json.loads(json_form.definition.data or "")
    except ValueError as exc:
        errors = {"": f"this is not JSON: {exc}"}
    else:
        if not isinstance(data, dict):
            errors = {"": "the definition is a JSON object: {\"trigger\": ..., \"steps\": [...]}"}
        else:
            unknown = [k for k in data if k not in DEFINITION_FIELDS]
            errors = {k: f"unknown field: use {', '.join(DEFINITION_FIELDS)}" for k in unknown}
            if not errors:
                try:
                    update_flow(session, row, data, saved_by=g.panel.author)
                except FlowInvalid as exc:
                    errors = exc.errors
    if errors:
        session.rollback()
        row = _flow_or_404(flow_id)
        form = FlowForm(formdata=None)
        form.fill(row, row.definition)
        return editor_page(row, form, status=400, json_form=json_form, json_errors=errors)
    version = row.version
    session.commit()
    flash(f"Definition saved (version {version}).", "success")
    return redirect(panel_url("panel.flow", flow_id=flow_id))


@bp.post("/admin/flows/<int:flow_id>/status")
@panel_page
def flow_status(flow_id: int):
    """Go live, pause, resume (live again) or back to draft."""
    session: Session = db.session
    row = _flow_or_404(flow_id)
    wanted = request.form.get("status", "")
    before = row.status
    try:
        set_status(session, row, wanted)
    except FlowInvalid as exc:
        session.rollback()
        flash(f"The flow's status was not changed: {exc}", "error")
        return redirect(panel_url("panel.flow", flow_id=flow_id))
    name = row.name
    session.commit()
    if wanted == LIVE:
        flash(f"“{name}” is live." + (" Held runs go on from where they were; nothing is "
                                      "sent twice." if before == PAUSED else
                                      " New triggers start runs from now on."), "success")
    elif wanted == PAUSED:
        flash(f"“{name}” is paused: no new runs, and runs in progress wait where they are.",
              "success")
    else:
        flash(f"“{name}” is a draft again.", "success")
    return redirect(panel_url("panel.flow", flow_id=flow_id))


@bp.post("/admin/flows/<int:flow_id>/backtest")
@panel_page
def flow_backtest(flow_id: int):
    """A dry run over the last 30 days of the store's events: what the flow, as saved,
    would have done. Nothing is sent or recorded."""
    row = _flow_or_404(flow_id)
    form = FlowForm(formdata=None)
    form.fill(row, row.definition)
    counts = backtest.run(db.session, row, utcnow(), days=30)
    db.session.rollback()  # a backtest writes nothing; make sure of it
    row = _flow_or_404(flow_id)
    return editor_page(row, form, backtest=counts)
