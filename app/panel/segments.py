"""`/admin/segments`: the store's segments with their live counts, and the builder (new and
edit) whose count and preview follow the merchant's edits.

The builder is a plain form (app.panel.segment_builder): its buttons add and remove rows and
groups by posting it back, so it works without JavaScript. With it, static/sticky/segments.js
posts the form to `panel.segment_preview` a moment after each edit and redraws the count and
the first matching customers. Counts are always of now: rules are compiled to SQL per query.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, g, jsonify, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.customers.display import LocalTime, money
from app.db import db
from app.flows.segment_filters import flows_using_segment
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.panel.segment_builder import (
    MATCHES,
    Builder,
    field_options,
    from_form,
    from_rules,
    op_options,
    placeholder,
)
from app.profiles.models import Customer
from app.segments import service
from app.segments.models import Segment
from app.segments.rules import FIELDS, NO_VALUE_OPS, OP_LABELS, count_matching, matching_ids
from app.segments.rules import validate as validate_rules
from app.settings.timezone import shop_zone

PREVIEW_ROWS = 10


def describe(rules: Any) -> str:
    """Rules as one line: "Total spent is at least 100 and (Country is FR or ...)"."""
    if isinstance(rules, list):
        rules = {"all": rules}
    if not isinstance(rules, dict):
        return ""
    for match, word in (("all", " and "), ("any", " or ")):
        if match in rules:
            parts = [describe(r) for r in rules[match]]
            if not parts:
                return "Everyone" if match == "all" else "Nobody"
            text = word.join(p if len(parts) == 1 or " and " not in p and " or " not in p
                             else f"({p})" for p in parts)
            return text
    if "not" in rules:
        return f"not ({describe(rules['not'])})"
    spec = FIELDS.get(rules.get("field"))
    label = spec.label if spec else str(rules.get("field"))
    op = OP_LABELS.get(rules.get("op"), str(rules.get("op")))
    if rules.get("op") in NO_VALUE_OPS:
        return f"{label} {op}"
    value = rules.get("value")
    value = ", ".join(map(str, value)) if isinstance(value, list) else value
    if rules.get("op") in ("more_than_days_ago", "within_last_days"):
        op = op.replace("N days", f"{value} days")
        return f"{label} {op}"
    return f"{label} {op} {value}"


@bp.get("/admin/segments")
@panel_page
def segments():
    session: Session = db.session
    rows = service.list_segments(session, g.shop.id)
    session.commit()  # the built-ins, added on the store's first look
    counts = {s.id: count_matching(session, g.shop, s.rules) for s in rows}
    total = session.execute(select(Customer.id).where(
        Customer.shop_id == g.shop.id, Customer.deleted_at.is_(None)).limit(1)).first()
    return render_template("panel/segments.html", segments=rows, counts=counts,
                           describe=describe, any_customer=total is not None,
                           active_nav="panel.segments")


def _segment_or_404(segment_id: int) -> Segment:
    segment = service.get_segment(db.session, g.shop.id, segment_id)
    if segment is None:
        abort(404, description="This segment does not exist in this store (any more).")
    return segment


def _preview(session: Session, rules: Any) -> dict[str, Any]:
    ids = matching_ids(session, g.shop, rules, limit=PREVIEW_ROWS)
    found = {c.id: c for c in session.execute(select(Customer).where(
        Customer.shop_id == g.shop.id, Customer.id.in_(ids))).scalars()}
    when = LocalTime(shop_zone(session, g.shop))
    people = []
    for i in ids:
        c = found.get(i)
        if c is None:
            continue
        name = (" ".join(p for p in (c.first_name, c.last_name) if p) or c.email
                or f"Customer {c.id}")
        people.append({"id": c.id, "name": name, "email": c.email or "",
                       "orders_count": c.orders_count,
                       "total_spent": money(c.total_spent, g.shop.currency),
                       "last_order_at": when.date(c.last_order_at) if c.last_order_at else "—",
                       "url": panel_url("panel.customer", customer_id=c.id)})
    return {"count": count_matching(session, g.shop, rules), "customers": people}


def _check(session: Session, builder: Builder) -> tuple[Any, dict[str, str]]:
    """The builder's rules in stored form, and errors put next to their rows."""
    raw, where = builder.rules()
    if raw is None:
        return None, dict(builder.errors)
    rules, errors = validate_rules(raw)
    builder.place_errors(errors, where)
    return (None if errors else rules), errors


def _builder_page(builder: Builder, segment: Segment | None, status: int = 200,
                  preview: dict[str, Any] | None = None):
    session: Session = db.session
    if preview is None:
        rules, errors = _check(session, builder)
        preview = _preview(session, rules) if rules is not None else None
    return render_template(
        "panel/segment.html", builder=builder, segment=segment, preview=preview,
        fields=field_options(), op_options=op_options, placeholder=placeholder,
        matches=MATCHES, describe=describe, active_nav="panel.segments",
        field_ops={name: op_options(name) for name in FIELDS},
        field_placeholders={name: {op: placeholder(name, op) for op in spec.ops}
                            for name, spec in FIELDS.items()},
        users=flows_using_segment(session, g.shop.id, segment.id) if segment else []), status


@bp.get("/admin/segments/new")
@panel_page
def segment_new():
    return _builder_page(from_rules("", {"all": []}), None)


@bp.get("/admin/segments/<int:segment_id>")
@panel_page
def segment(segment_id: int):
    found = _segment_or_404(segment_id)
    return _builder_page(from_rules(found.name, found.rules), found)


def _save(segment: Segment | None):
    session: Session = db.session
    builder = from_form(request.form)
    if request.form.get("action") != "save":
        return _builder_page(builder, segment)  # a row or group added or removed
    raw, where = builder.rules()
    if raw is None:
        return _builder_page(builder, segment, 400)
    try:
        if segment is None:
            saved = service.create_segment(session, g.shop, {"name": builder.name, "rules": raw})
        else:
            saved = service.update_segment(session, segment, {"name": builder.name,
                                                              "rules": raw})
    except service.SegmentInvalid as exc:
        session.rollback()
        errors = dict(exc.errors)
        if "name" in errors:
            builder.errors["name"] = errors.pop("name")
        if "" in errors:
            builder.errors["rules"] = errors.pop("")
        builder.place_errors(errors, where)
        return _builder_page(builder, segment, 400)
    session.commit()
    flash(f"Segment “{saved.name}” saved.", "success")
    return redirect(panel_url("panel.segment", segment_id=saved.id))


@bp.post("/admin/segments/new")
@panel_page
def segment_create():
    service.ensure_builtins(db.session, g.shop.id)
    return _save(None)


@bp.post("/admin/segments/<int:segment_id>")
@panel_page
def segment_update(segment_id: int):
    found = _segment_or_404(segment_id)
    if found.builtin:
        abort(400, description="Built-in segments cannot be changed.")
    return _save(found)


@bp.post("/admin/segments/preview")
@panel_page
def segment_preview():
    """The builder's count and first customers as typed (nothing saved), as JSON, with each
    row's refusal by its form field name."""
    session: Session = db.session
    builder = from_form(request.form)
    rules, errors = _check(session, builder)
    row_errors = {f"groups-{g}-rows-{r}-value": row.error
                  for g, group in enumerate(builder.groups)
                  for r, row in enumerate(group.rows) if row.error}
    if rules is None:
        return jsonify({"count": None, "customers": [], "errors": row_errors,
                        "message": builder.errors.get("rules", "")})
    return jsonify({**_preview(session, rules), "errors": {}, "message": ""})


@bp.get("/admin/segments/<int:segment_id>/delete")
@panel_page
def segment_delete_confirm(segment_id: int):
    found = _segment_or_404(segment_id)
    if found.builtin:
        abort(400, description="Built-in segments cannot be deleted.")
    return render_template("panel/segment_delete.html", segment=found,
                           count=count_matching(db.session, g.shop, found.rules),
                           users=flows_using_segment(db.session, g.shop.id, found.id),
                           active_nav="panel.segments")


@bp.post("/admin/segments/<int:segment_id>/delete")
@panel_page
def segment_delete(segment_id: int):
    session: Session = db.session
    found = _segment_or_404(segment_id)
    if found.builtin:
        abort(400, description="Built-in segments cannot be deleted.")
    users = flows_using_segment(session, g.shop.id, found.id)
    if users:
        flash("Not deleted: these flows filter on it: " + ", ".join(users) + ".", "error")
        return redirect(panel_url("panel.segment", segment_id=found.id))
    name = found.name
    service.delete_segment(session, found)
    session.commit()
    flash(f"Segment “{name}” deleted.", "success")
    return redirect(panel_url("panel.segments"))
