"""Condition rows of the flow editor (trigger filters, flow filters and a split's condition):
a field of `app.flows.conditions.PROFILE_FIELDS`, an operator of `OPS` and a typed value."""

from __future__ import annotations

import re
from typing import Any

from wtforms import Form, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice

from app.flows.conditions import NO_VALUE_OPS, OPS, PROFILE_FIELDS

MAX_FILTERS = 20
OP_LABELS = {"eq": "is", "ne": "is not", "gt": "is more than", "gte": "is at least",
             "lt": "is less than", "lte": "is at most", "in": "is one of",
             "not_in": "is none of", "contains": "contains", "not_contains": "does not contain",
             "is_set": "is set", "is_not_set": "is not set"}
EVENT_LABELS = {
    "customer_created": "Customer created", "order_placed": "Order placed",
    "order_paid": "Order paid", "order_cancelled": "Order cancelled",
    "order_fulfilled": "Order fulfilled", "refund_created": "Refund created",
    "checkout_started": "Checkout started (abandoned checkout)",
    "cart_abandoned": "Cart abandoned", "email_marketing_changed": "Email consent changed",
    "points_earned": "Points earned", "points_expiring": "Points about to expire",
    "points_expired": "Points expired", "tier_changed": "Tier changed",
    "reward_redeemed": "Reward redeemed", "referral_completed": "Referral completed"}
_FIELD_CHOICES = [(name, name.replace("_", " ").capitalize()) for name in PROFILE_FIELDS]


def options(pairs) -> list[SelectChoice]:
    return [p if isinstance(p, SelectChoice) else SelectChoice(p[0], p[1]) for p in pairs]


class Select(SelectField):
    """A SelectField given (value, label) pairs."""

    def __init__(self, label=None, validators=None, choices=(), **kwargs):
        super().__init__(label, validators, choices=options(choices), **kwargs)
        self.type = "SelectField"  # drawn as one by the field macro


class SelectMultiple(SelectMultipleField):
    def __init__(self, label=None, validators=None, choices=(), **kwargs):
        super().__init__(label, validators, choices=options(choices), **kwargs)
        self.type = "SelectMultipleField"


def field_choices(current: str | None = None) -> list[tuple[str, str]]:
    choices = list(_FIELD_CHOICES)
    if current and current not in PROFILE_FIELDS:
        choices.append((current, current))  # an event.<name> field
    return options(choices)


def parse_value(text: str | None, op: str) -> Any:
    """What a typed condition value means: a list for in/not_in (comma-separated), true or
    false, a whole number, else the text."""
    raw = (text or "").strip()
    if op in ("in", "not_in"):
        return [parse_value(part, "eq") for part in raw.split(",") if part.strip()]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if re.fullmatch(r"-?\d{1,15}", raw):
        return int(raw)
    return raw


def value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def is_simple(condition: Any) -> bool:
    return isinstance(condition, dict) and "field" in condition and not (
        {"all", "any", "not"} & set(condition))




class ConditionForm(Form):
    field = Select("Field", choices=_FIELD_CHOICES, validate_choice=False)
    op = Select("Operator", choices=[(op, OP_LABELS[op]) for op in OPS],
                     validate_choice=False)
    value = StringField("Value", render_kw={"placeholder": "e.g. 2, or FR, DE for is one of"})

    def fill(self, condition: dict[str, Any]) -> None:
        self.field.data = condition.get("field")
        self.field.choices = field_choices(self.field.data)
        self.op.data = condition.get("op")
        self.value.data = value_text(condition.get("value"))

    def condition(self) -> dict[str, Any]:
        op = self.op.data or "eq"
        cond = {"field": self.field.data or "", "op": op}
        if op not in NO_VALUE_OPS:
            cond["value"] = parse_value(self.value.data, op)
        return cond

    def is_blank(self) -> bool:
        return not (self.value.data or "").strip() and self.op.data not in NO_VALUE_OPS
