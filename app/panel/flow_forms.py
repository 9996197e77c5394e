"""The flow editor's forms. They hold no rules: each turns what was typed into the flow the
API takes (`PUT /api/flows/<id>`) and puts `app.flows.service`'s reasons, given by path
(`steps.1.yes.0.minutes`), next to the fields they are about. Steps are rows
(app/panel/flow_steps.py); adding, removing and moving one draws the page again, unsaved, as
the Loyalty page's tier rows do, and Save sends the whole flow."""

from __future__ import annotations

from typing import Any

from wtforms import (
    BooleanField,
    FieldList,
    FormField,
    StringField,
    TextAreaField,
)
from wtforms.widgets import NumberInput

from app.events.domain import KINDS
from app.flows.definition import MAX_STEPS
from app.panel.flow_conditions import (
    EVENT_LABELS,
    MAX_FILTERS,
    ConditionForm,
    Select,
    SelectMultiple,
    is_simple,
    value_text,
)
from app.panel.flow_steps import (
    StepForm,
    fill_step,
    rows_from_tree,
    step_field,
    step_from_row,
    tree_from_rows,
    walk_rows,
)
from app.panel.loyalty_forms import PanelForm, _sentence, _whole_or_typed


def _number(text: str) -> Any:
    try:
        return int(text) if text.isdigit() else float(text) if text else text
    except ValueError:
        return text


class FlowForm(PanelForm):
    name = StringField("Name", render_kw={"maxlength": 120})
    category = Select("Kind of email", choices=[
        ("marketing", "Marketing: only to subscribed shoppers, counts for smart sending"),
        ("transactional", "Transactional-like notice")])
    send_to = Select("Transactional notices go to", choices=[
        ("subscribed", "Subscribed shoppers only"),
        ("not_unsubscribed", "Everyone who has not unsubscribed")])
    trigger_type = Select("Trigger", choices=[("event", "When something happens"),
                                                   ("date", "On a date (birthday)"),
                                                   ("lapsed", "When a shopper lapses")])
    trigger_event = SelectMultiple("Events", choices=[(k, EVENT_LABELS.get(k, k))
                                                      for k in sorted(KINDS)],
                                   validate_choice=False, render_kw={"size": 6})
    days_before = StringField("Days before the date", widget=NumberInput(min=0, max=60))
    factor = StringField("Times their usual interval between orders",
                         render_kw={"inputmode": "decimal"})
    min_days = StringField("At least (days since the last order)",
                           widget=NumberInput(min=1, max=3650))
    max_days = StringField("At most (days)", widget=NumberInput(min=1, max=3650))
    lapsed_basis = Select("Who counts as lapsed", choices=[
        ("interval", "Past their usual interval between orders"),
        ("churn_risk", "Predicted churn risk above a threshold (repeat buyers, once the "
                       "store's predictions are fitted; the interval rule otherwise)")])
    churn_above = StringField("Churn risk above (between 0 and 1)",
                              render_kw={"inputmode": "decimal"})
    trigger_filters = FieldList(FormField(ConditionForm), max_entries=MAX_FILTERS)
    flow_filters = FieldList(FormField(ConditionForm), max_entries=MAX_FILTERS)
    steps = FieldList(FormField(StepForm), max_entries=MAX_STEPS)
    holdout_percent = StringField("Holdout (% of entrants who get nothing)",
                                  widget=NumberInput(min=0, max=50))
    reentry = Select("A shopper can enter", choices=[("never", "Once ever"),
                                                          ("days", "Again after some days"),
                                                          ("always", "Every time it happens")])
    reentry_days = StringField("Days before they can enter again",
                               widget=NumberInput(min=1, max=3650))
    smart_sending = BooleanField("Smart sending: skip shoppers emailed recently")
    exit_on_order = BooleanField("Stop the flow when the shopper places an order")

    # -- filling from a flow ----------------------------------------------------------------

    def fill(self, flow, definition: dict[str, Any]) -> None:
        self.name.data = flow.name
        self.category.data = flow.category
        self.send_to.data = definition.get("send_to", "subscribed")
        trigger = definition.get("trigger") or {}
        self.trigger_type.data = trigger.get("type", "event")
        event = trigger.get("event")
        self.trigger_event.data = event if isinstance(event, list) else [event] if event else []
        self.days_before.data = str(trigger.get("days_before", 0))
        self.factor.data = str(trigger.get("factor", 2))
        self.min_days.data = str(trigger.get("min_days", 30))
        self.max_days.data = str(trigger.get("max_days", 730))
        self.lapsed_basis.data = trigger.get("basis", "interval")
        self.churn_above.data = str(trigger.get("above", "0.5"))
        for name in ("trigger_filters", "flow_filters"):
            rows: FieldList = getattr(self, name)
            while rows.entries:
                rows.pop_entry()
            for cond in definition.get(name, []):
                if is_simple(cond):
                    rows.append_entry().form.fill(cond)
        self.holdout_percent.data = str(flow.holdout_percent)
        self.reentry.data = ("never" if flow.reentry_days is None
                             else "always" if flow.reentry_days == 0 else "days")
        self.reentry_days.data = ("" if flow.reentry_days in (None, 0)
                                  else str(flow.reentry_days))
        self.smart_sending.data = bool(definition.get("smart_sending", True))
        self.exit_on_order.data = bool(definition.get("exit_on_order", False))
        self.set_rows(definition.get("steps", []))

    def set_rows(self, steps: list[dict[str, Any]]) -> None:
        while self.steps.entries:
            self.steps.pop_entry()
        for row in rows_from_tree(steps):
            fill_step(self.steps.append_entry().form, row)

    # -- reading what was typed -------------------------------------------------------------

    def tree(self, saved: dict[str, Any]) -> list[dict[str, Any]]:
        """The steps as typed, nested, email sources kept from the saved steps."""
        return tree_from_rows([step_from_row(entry.form, saved)
                               for entry in self.steps.entries])

    def filter_rows(self, name: str) -> list[int]:
        rows: FieldList = getattr(self, name)
        return [i for i, e in enumerate(rows.entries) if not e.form.is_blank()]

    def changes(self, saved_steps: list[dict[str, Any]],
                complex_filters: dict[str, list[Any]],
                saved_trigger: dict[str, Any] | None = None) -> dict[str, Any]:
        """What was typed, as a PUT body. Filters the form cannot show (any/all/not) are kept
        as they were."""
        kind = self.trigger_type.data
        saved_trigger = saved_trigger or {}
        before = saved_trigger if saved_trigger.get("type") == kind else {}
        trigger: dict[str, Any] = {**before, "type": kind}
        if kind == "event":
            events = [e for e in (self.trigger_event.data or []) if e]
            trigger["event"] = events[0] if len(events) == 1 else events or None
            saved_events = before.get("event")
            if isinstance(saved_events, list) and set(saved_events) == set(events):
                trigger["event"] = saved_events  # the same events, in the saved order
        elif kind == "date":
            trigger.update(property="birthday", days_before=_whole_or_typed(
                self.days_before.data))
        else:
            factor = (self.factor.data or "").strip()
            trigger.update(factor=_number(factor), min_days=_whole_or_typed(self.min_days.data),
                           max_days=_whole_or_typed(self.max_days.data))
            basis = self.lapsed_basis.data or "interval"
            if basis != "interval" or "basis" in before:
                trigger["basis"] = basis
            if basis == "churn_risk":
                trigger["above"] = _number((self.churn_above.data or "").strip())
            else:
                trigger.pop("above", None)
        for key, value in before.items():  # typed as saved: keep the saved form (2, not 2.0)
            if key != "event" and value_text(trigger.get(key)) == value_text(value):
                trigger[key] = value
        saved = {s["id"]: s for s in walk_rows(saved_steps)}
        body: dict[str, Any] = {
            "name": self.name.data or "", "category": self.category.data,
            "trigger": trigger,
            "holdout_percent": _whole_or_typed(self.holdout_percent.data or "0"),
            "reentry_days": (None if self.reentry.data == "never"
                             else 0 if self.reentry.data == "always"
                             else _whole_or_typed(self.reentry_days.data)),
            "smart_sending": bool(self.smart_sending.data),
            "exit_on_order": bool(self.exit_on_order.data),
            "steps": self.tree(saved),
        }
        if self.category.data != "marketing":
            body["send_to"] = self.send_to.data
        for name in ("trigger_filters", "flow_filters"):
            rows: FieldList = getattr(self, name)
            body[name] = [rows.entries[i].form.condition() for i in self.filter_rows(name)]
            body[name] += complex_filters.get(name, [])
        return body

    # -- errors -----------------------------------------------------------------------------

    def show_errors(self, errors: dict[str, str]) -> list[str]:
        """Put each reason next to its field; returns those with no field to go to."""
        loose = []
        paths = {entry.form.path: entry.form for entry in self.steps.entries
                 if getattr(entry.form, "path", None)}
        for key, reason in errors.items():
            field = self._field_for(key, paths)
            if field is None:
                loose.append(f"{key}: {reason}")
            else:
                field.errors = [*field.errors, _sentence(reason)] if isinstance(
                    field.errors, list) else [_sentence(reason)]
        return loose

    def _field_for(self, key: str, paths: dict[str, Any]):
        parts = key.split(".")
        top = {"trigger.event": self.trigger_event, "trigger.days_before": self.days_before,
               "trigger.factor": self.factor, "trigger.min_days": self.min_days,
               "trigger.max_days": self.max_days, "trigger.basis": self.lapsed_basis,
               "trigger.above": self.churn_above, "trigger": self.trigger_type,
               "trigger.property": self.trigger_type, "reentry_days": self.reentry_days}
        if key in top:
            return top[key]
        if parts[0] in ("trigger_filters", "flow_filters") and len(parts) > 1 \
                and parts[1].isdigit():
            rows = self.filter_rows(parts[0])
            if int(parts[1]) < len(rows):
                row = getattr(self, parts[0]).entries[rows[int(parts[1])]].form
                return {"op": row.op, "value": row.value}.get(parts[-1], row.field)
            return None
        if parts[0] == "steps":
            # the longest step path that is a prefix of the key
            for cut in range(len(parts) - 1, 1, -1):
                row = paths.get(".".join(parts[:cut]))
                if row is not None:
                    rest = parts[cut:]
                    return step_field(row, rest)
            return self.steps if len(parts) == 1 else None
        return self._fields.get(parts[0])


class CreateFlowForm(PanelForm):
    name = StringField("Name", render_kw={"maxlength": 120, "placeholder": "Thank-you note"})
    trigger_event = Select("Starts when", choices=[(k, EVENT_LABELS.get(k, k))
                                                        for k in sorted(KINDS)],
                                default="order_placed", validate_choice=False)


class JsonForm(PanelForm):
    definition = TextAreaField("Definition (JSON)", render_kw={"rows": 18,
                                                               "spellcheck": "false"})


class EmailForm(PanelForm):
    subject = StringField("Subject", render_kw={"maxlength": 500})
    preheader = StringField("Preview text (preheader)",
                            render_kw={"maxlength": 300,
                                       "placeholder": "Shown after the subject in the inbox"})
    html = TextAreaField("HTML", render_kw={"rows": 18, "spellcheck": "false"})
    text = TextAreaField("Plain text", render_kw={"rows": 8, "spellcheck": "false",
                                                  "placeholder": "Leave empty: made from "
                                                                 "the HTML"})
    customer_id = Select("Preview with", choices=[], validate_choice=False)

    def fill(self, step: dict[str, Any]) -> None:
        self.subject.data = step.get("subject", "")
        self.preheader.data = step.get("preheader") or ""
        self.html.data = step.get("html", "")
        self.text.data = step.get("text") or ""

    def step(self, saved: dict[str, Any]) -> dict[str, Any]:
        step = dict(saved)
        step.update(subject=self.subject.data or "", html=self.html.data or "",
                    text=(self.text.data or "").strip() and self.text.data or None)
        preheader = (self.preheader.data or "").strip()
        if preheader:
            step["preheader"] = preheader
        else:
            step.pop("preheader", None)
        return step

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, reason in errors.items():
            field = self._fields.get(name)
            if field is not None:
                field.errors = [_sentence(reason)]


class TestSendForm(PanelForm):
    email = StringField("Send a test to", render_kw={"type": "email"})
