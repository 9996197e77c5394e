"""The flow editor's step rows: steps nest (a split has yes and no branches), forms do not, so
the editor shows the steps as rows in reading order, each naming its `parent` split and
`branch`; `tree_from_rows` nests them again (a split always comes before its branches'
rows). Adding, removing and moving a step work on the nested list (`apply_op`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wtforms import Form, HiddenField, StringField, TextAreaField
from wtforms.widgets import NumberInput

from app.flows.conditions import NO_VALUE_OPS, OPS
from app.flows.definition import MAX_STEPS, STEP_TYPES
from app.panel.flow_conditions import (
    _FIELD_CHOICES,
    OP_LABELS,
    Select,
    field_choices,
    is_simple,
    parse_value,
    value_text,
)
from app.panel.loyalty_forms import _whole_or_typed

WAIT_UNITS = {"minutes": 1, "hours": 60, "days": 24 * 60}
DEFAULT_EMAIL_HTML = ("<p>Hi {{ customer.first_name or 'there' }},</p>\n"
                      "<p>Write your message here.</p>\n"
                      "<p>— {{ shop.name }}</p>\n"
                      "<p><a href=\"{{ unsubscribe_url }}\">Unsubscribe</a></p>")
STEP_LABELS = {"wait": "Wait", "split": "Condition split", "email": "Send email",
               "award_points": "Award points", "discount": "Create discount code",
               "tag": "Add tag"}


class StepForm(Form):
    """One step row; which fields show depends on `type`."""

    id = HiddenField()
    type = HiddenField()
    parent = HiddenField()
    branch = HiddenField()
    wait_mode = Select("Wait", choices=[("for", "for a time"),
                                             ("until", "until a time of day")])
    wait_amount = StringField("Wait for", widget=NumberInput(min=0))
    wait_unit = Select("Unit", choices=[(u, u) for u in WAIT_UNITS])
    until = StringField("Until (HH:MM, store time)", render_kw={"placeholder": "09:00",
                                                                "pattern": r"\d\d:\d\d"})
    subject = StringField("Subject", render_kw={"maxlength": 500})
    cond_field = Select("If", choices=_FIELD_CHOICES, validate_choice=False)
    cond_op = Select("Operator", choices=[(op, OP_LABELS[op]) for op in OPS],
                          validate_choice=False)
    cond_value = StringField("Value")
    condition_json = TextAreaField("Condition (JSON)", render_kw={"rows": 3})
    points = StringField("Points", widget=NumberInput(min=1, max=1_000_000))
    reason = StringField("Reason shown in the points history",
                         render_kw={"maxlength": 200})
    kind = Select("Discount", choices=[("percentage", "Percentage off"),
                                            ("fixed_amount", "Amount off"),
                                            ("free_shipping", "Free shipping")])
    value = StringField("Value", render_kw={"inputmode": "decimal"})
    expires_after_days = StringField("Code expires after (days)",
                                     widget=NumberInput(min=1, max=365))
    tag = StringField("Tag", render_kw={"maxlength": 64})


def step_field(row: StepForm, rest: list[str]):
    name = rest[0] if rest else "type"
    if row.type.data == "split" and name == "condition":
        if (row.condition_json.data or "").strip():
            return row.condition_json
        return {"op": row.cond_op, "value": row.cond_value}.get(rest[-1], row.cond_field)
    # An email's HTML, text and preheader are edited on the email's own page: their
    # reasons are listed above the form, with a link there.
    mapping = {"minutes": row.wait_amount, "until": row.until, "subject": row.subject,
               "points": row.points, "reason": row.reason, "kind": row.kind,
               "value": row.value, "expires_after_days": row.expires_after_days,
               "tag": row.tag}
    return mapping.get(name)


# -- rows <-> tree ---------------------------------------------------------------------------


@dataclass
class Row:
    step: dict[str, Any]
    parent: str
    branch: str
    path: str
    depth: int


def rows_from_tree(steps: list[dict[str, Any]], parent: str = "", branch: str = "",
                   path: str = "steps", depth: int = 0) -> list[Row]:
    rows: list[Row] = []
    for i, step in enumerate(steps):
        here = f"{path}.{i}"
        rows.append(Row(step, parent, branch, here, depth))
        if step.get("type") == "split":
            for side in ("yes", "no"):
                rows.extend(rows_from_tree(step.get(side) or [], step.get("id", ""), side,
                                           f"{here}.{side}", depth + 1))
    return rows


def walk_rows(steps: list[dict[str, Any]]):
    for row in rows_from_tree(steps):
        yield row.step


def tree_from_rows(steps: list[tuple[dict[str, Any], str, str]]) -> list[dict[str, Any]]:
    """Nest (step, parent id, branch) rows given in reading order."""
    top: list[dict[str, Any]] = []
    splits: dict[str, dict[str, Any]] = {}
    for step, parent, branch in steps:
        if step.get("type") == "split":
            step.setdefault("yes", [])
            step.setdefault("no", [])
            splits[step["id"]] = step
        holder = splits.get(parent)
        if holder is not None and branch in ("yes", "no"):
            holder[branch].append(step)
        else:
            top.append(step)
    return top


def fill_step(form: StepForm, row: Row) -> None:
    step = row.step
    form.id.data, form.type.data = step.get("id", ""), step.get("type", "")
    form.parent.data, form.branch.data = row.parent, row.branch
    form.path, form.depth = row.path, row.depth
    kind = step.get("type")
    if kind == "wait":
        if "until" in step:
            form.wait_mode.data, form.until.data = "until", step["until"]
        else:
            form.wait_mode.data = "for"
            minutes = step.get("minutes", 0)
            unit = next((u for u in ("days", "hours") if isinstance(minutes, int) and minutes
                         and minutes % WAIT_UNITS[u] == 0), "minutes")
            form.wait_unit.data = unit
            form.wait_amount.data = str(minutes // WAIT_UNITS[unit]) if isinstance(
                minutes, int) else str(minutes)
    elif kind == "split":
        cond = step.get("condition")
        if is_simple(cond):
            form.cond_field.data = cond.get("field")
            form.cond_field.choices = field_choices(cond.get("field"))
            form.cond_op.data = cond.get("op")
            form.cond_value.data = value_text(cond.get("value"))
        else:
            form.condition_json.data = json.dumps(cond, indent=1)
    elif kind == "email":
        form.subject.data = step.get("subject", "")
    elif kind == "award_points":
        form.points.data = str(step.get("points", ""))
        form.reason.data = step.get("reason", "")
    elif kind == "discount":
        form.kind.data = step.get("kind", "percentage")
        form.value.data = value_text(step.get("value"))
        form.expires_after_days.data = str(step.get("expires_after_days", 14))
    elif kind == "tag":
        form.tag.data = step.get("tag", "")


def step_from_row(form: StepForm, saved: dict[str, dict[str, Any]]
                  ) -> tuple[dict[str, Any], str, str]:
    """The step a row describes. What the row does not show (an email's HTML and text, a
    built-in's own keys, a discount's minimum order) is kept from the saved step, and a
    value typed as it was saved keeps its saved form, so saving an unchanged page makes no
    new version."""
    kind = form.type.data if form.type.data in STEP_TYPES else "wait"
    before = saved.get(form.id.data) or {}
    if before.get("type") != kind:
        before = {}
    step: dict[str, Any] = {k: v for k, v in before.items() if k not in ("yes", "no")}
    step.update(id=form.id.data, type=kind)
    if kind == "wait":
        step.pop("until", None)
        step.pop("minutes", None)
        if form.wait_mode.data == "until":
            step["until"] = (form.until.data or "").strip()
        else:
            amount = _whole_or_typed(form.wait_amount.data)
            unit = WAIT_UNITS.get(form.wait_unit.data or "minutes", 1)
            step["minutes"] = amount * unit if isinstance(amount, int) else amount
    elif kind == "split":
        typed = (form.condition_json.data or "").strip()
        if typed:
            try:
                step["condition"] = json.loads(typed)
            except ValueError:
                step["condition"] = typed  # refused by the service, next to the field
        else:
            op = form.cond_op.data or "eq"
            step["condition"] = {"field": form.cond_field.data or "", "op": op}
            if op not in NO_VALUE_OPS:
                step["condition"]["value"] = parse_value(form.cond_value.data, op)
            if is_simple(before.get("condition")) and _same_text(before["condition"],
                                                                 step["condition"]):
                step["condition"] = before["condition"]
    elif kind == "email":
        step["subject"] = form.subject.data or ""
        step.setdefault("html", DEFAULT_EMAIL_HTML)
        step.setdefault("text", None)
    elif kind == "award_points":
        step.update(points=_whole_or_typed(form.points.data),
                    reason=(form.reason.data or "").strip())
    elif kind == "discount":
        step["kind"] = form.kind.data
        step.pop("value", None)
        if form.kind.data != "free_shipping":
            step["value"] = (form.value.data or "").strip()
        step["expires_after_days"] = _whole_or_typed(form.expires_after_days.data or "14")
    elif kind == "tag":
        step["tag"] = (form.tag.data or "").strip()
    for key, value in list(step.items()):
        if key in before and not isinstance(value, dict | list) \
                and value_text(before[key]) == value_text(value):
            step[key] = before[key]
    return step, form.parent.data or "", form.branch.data or ""


def _same_text(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(value_text(a[k]) == value_text(b[k]) for k in a)


# -- editing the tree ------------------------------------------------------------------------


def new_step(kind: str, used: set[str]) -> dict[str, Any]:
    n = 1
    while f"s{n}" in used:
        n += 1
    step: dict[str, Any] = {"id": f"s{n}", "type": kind}
    step.update({"wait": {"minutes": 60}, "split": {
        "condition": {"field": "orders_count", "op": "gte", "value": 1}, "yes": [], "no": []},
        "email": {"subject": "A note from {{ shop.name }}", "html": DEFAULT_EMAIL_HTML,
                  "text": None},
        "award_points": {"points": 100, "reason": "A gift from us"},
        "discount": {"kind": "percentage", "value": "10", "expires_after_days": 14},
        "tag": {"tag": "flow"}}.get(kind, {}))
    return step


def _holder(steps: list[dict[str, Any]], step_id: str) -> tuple[list[dict[str, Any]], int] | None:
    for i, step in enumerate(steps):
        if step.get("id") == step_id:
            return steps, i
        if step.get("type") == "split":
            for side in ("yes", "no"):
                found = _holder(step.get(side) or [], step_id)
                if found:
                    return found
    return None


def apply_op(steps: list[dict[str, Any]], op: str) -> str | None:
    """Apply a row button (`add:<type>:<split id>:<branch>`, `up:<id>`, `down:<id>`,
    `remove:<id>`) to the steps in place; returns why not, or None."""
    parts = op.split(":")
    if parts[0] == "add" and len(parts) == 4 and parts[1] in STEP_TYPES:
        if sum(1 for _ in walk_rows(steps)) >= MAX_STEPS:
            return f"A flow has at most {MAX_STEPS} steps."
        step = new_step(parts[1], {s.get("id") for s in walk_rows(steps)})
        if parts[2]:
            found = _holder(steps, parts[2])
            if not found or parts[3] not in ("yes", "no"):
                return "That split is no longer in the flow."
            holder, i = found
            holder[i].setdefault(parts[3], []).append(step)
        else:
            steps.append(step)
        return None
    if parts[0] in ("up", "down", "remove") and len(parts) == 2:
        found = _holder(steps, parts[1])
        if not found:
            return "That step is no longer in the flow."
        holder, i = found
        if parts[0] == "remove":
            del holder[i]
        else:
            j = i - 1 if parts[0] == "up" else i + 1
            if 0 <= j < len(holder):
                holder[i], holder[j] = holder[j], holder[i]
        return None
    return "That button is not one Sticky knows; reload the page."


def complex_filters(definition: dict[str, Any]) -> dict[str, list[Any]]:
    """Filters the rows cannot show (any / all / not), kept as they are."""
    return {name: [c for c in definition.get(name, []) if not is_simple(c)]
            for name in ("trigger_filters", "flow_filters")}


