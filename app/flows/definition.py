"""What a flow is, as data, and the one place its shape is checked.

A flow's definition (`flows.definition`, and each `flow_versions.definition`):

    {
      "trigger": {"type": "event", "event": "checkout_started"}   (or a list of kinds)
               | {"type": "date", "property": "birthday", "days_before": 0}
               | {"type": "lapsed", "factor": 2.0, "min_days": 45, "max_days": 730,
                  "basis": "interval" | "churn_risk", "above": 0.5},
      "trigger_filters": [condition, ...],   checked once, on the triggering event
      "flow_filters": [condition, ...],      checked on entry and again before every message
      "steps": [step, ...],
      "send_to": "subscribed" | "not_unsubscribed",
      "smart_sending": true,                 marketing flows: skip a shopper mailed lately
      "exit_on_order": false                 stop the run when the shopper orders
    }

Steps (each has an `id`, unique in the flow, given on save when missing):

    {"type": "wait", "minutes": n}            n >= 0
    {"type": "wait", "until": "HH:MM"}        the next such time in the shop's time zone
    {"type": "split", "condition": cond, "yes": [step...], "no": [step...]}
    {"type": "email", "subject", "html", "text" (null: derived from the HTML), "preheader"?}
    {"type": "award_points", "points": n, "reason"}
    {"type": "discount", "kind": "percentage"|"fixed_amount"|"free_shipping", "value",
     "expires_after_days", "minimum_order"?}  a single-use code for this shopper
    {"type": "tag", "tag": "..."}

After the last step of a split's branch the run goes on with the step after the split.
Conditions are `app.flows.conditions`. Email sources are checked by
`app.email.render.check_templates` (the sandbox's refusals, in words, per field).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from app.events.domain import KINDS
from app.flows import conditions

STEP_TYPES = ("wait", "split", "email", "award_points", "discount", "tag")
TRIGGER_TYPES = ("event", "date", "lapsed")
# How a lapsed trigger judges: the interval rule, or the predicted churn risk when the store
# has a fitted model (app.flows.candidates).
LAPSED_BASES = ("interval", "churn_risk")
DATE_PROPERTIES = ("birthday",)
SEND_TO = ("subscribed", "not_unsubscribed")
DISCOUNT_KINDS = ("percentage", "fixed_amount", "free_shipping")
MAX_STEPS = 50
MAX_WAIT_MINUTES = 366 * 24 * 60
STEP_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class FlowInvalid(ValueError):
    """The definition was refused; `errors` maps a path (`steps.2.minutes`) to why. Nothing
    was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        path, reason = next(iter(errors.items()))
        super().__init__(f"{path}: {reason}" if path else reason)


def normalize(definition: dict[str, Any]) -> dict[str, Any]:
    """A checked copy with defaults filled in and every step given an id; raises
    `FlowInvalid` with every problem found."""
    if not isinstance(definition, dict):
        raise FlowInvalid({"": "a flow definition is an object"})
    d = copy.deepcopy(definition)
    d.setdefault("trigger_filters", [])
    d.setdefault("flow_filters", [])
    d.setdefault("steps", [])
    d.setdefault("send_to", "subscribed")
    d.setdefault("smart_sending", True)
    d.setdefault("exit_on_order", False)
    errors: dict[str, str] = {}
    errors.update(_check_trigger(d.get("trigger")))
    for name in ("trigger_filters", "flow_filters"):
        value = d[name]
        if not isinstance(value, list):
            errors[name] = "must be a list of conditions"
            continue
        for i, cond in enumerate(value):
            errors.update(conditions.validate(cond, f"{name}.{i}"))
    if d["send_to"] not in SEND_TO:
        errors["send_to"] = f"must be one of {', '.join(SEND_TO)}"
    for flag in ("smart_sending", "exit_on_order"):
        if not isinstance(d[flag], bool):
            errors[flag] = "must be true or false"
    if not isinstance(d["steps"], list):
        errors["steps"] = "must be a list of steps"
    else:
        _assign_ids(d["steps"])
        seen: set[str] = set()
        count = [0]
        errors.update(_check_steps(d["steps"], "steps", seen, count))
        if count[0] > MAX_STEPS:
            errors["steps"] = f"a flow has at most {MAX_STEPS} steps"
    if errors:
        raise FlowInvalid(errors)
    return d


def _check_trigger(trigger: Any) -> dict[str, str]:
    if not isinstance(trigger, dict) or trigger.get("type") not in TRIGGER_TYPES:
        return {"trigger": f"needs a type: one of {', '.join(TRIGGER_TYPES)}"}
    kind = trigger["type"]
    if kind == "event":
        wanted = trigger.get("event")
        wanted = wanted if isinstance(wanted, list) and wanted else [wanted]
        unknown = [w for w in wanted if w not in KINDS]
        if unknown:
            return {"trigger.event": f"unknown event {unknown[0]!r}: use one of "
                                     f"{', '.join(sorted(KINDS))}"}
    elif kind == "date":
        if trigger.get("property") not in DATE_PROPERTIES:
            return {"trigger.property": f"use one of {', '.join(DATE_PROPERTIES)}"}
        if not _int_between(trigger.get("days_before", 0), 0, 60):
            return {"trigger.days_before": "a whole number of days from 0 to 60"}
    else:
        factor = _decimal(trigger.get("factor", 2))
        if factor is None or not (Decimal("1") <= factor <= Decimal("20")):
            return {"trigger.factor": "a number from 1 to 20 (times the shopper's usual "
                                      "interval between orders)"}
        for name, default in (("min_days", 30), ("max_days", 730)):
            if not _int_between(trigger.get(name, default), 1, 3650):
                return {f"trigger.{name}": "a whole number of days from 1 to 3650"}
        if trigger.get("basis", "interval") not in LAPSED_BASES:
            return {"trigger.basis": f"use one of {', '.join(LAPSED_BASES)}"}
        above = _decimal(trigger.get("above", "0.5"))
        if above is None or not (Decimal("0") < above < Decimal("1")):
            return {"trigger.above": "a churn risk between 0 and 1, e.g. 0.5"}
    return {}


def _assign_ids(steps: list[Any]) -> None:
    used = {s["id"] for s in walk(steps) if isinstance(s.get("id"), str)}
    n = 1
    for step in walk(steps):
        if not step.get("id"):
            while f"s{n}" in used:
                n += 1
            step["id"] = f"s{n}"
            used.add(step["id"])


def _check_steps(steps: list[Any], path: str, seen: set[str],
                 count: list[int]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for i, step in enumerate(steps):
        here = f"{path}.{i}"
        if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
            errors[f"{here}.type"] = f"a step's type is one of {', '.join(STEP_TYPES)}"
            continue
        count[0] += 1
        sid = step.get("id")
        if not isinstance(sid, str) or not STEP_ID.match(sid):
            errors[f"{here}.id"] = "letters, digits, '_' or '-', at most 32"
        elif sid in seen:
            errors[f"{here}.id"] = f"two steps have the id {sid!r}"
        else:
            seen.add(sid)
        errors.update(_check_step(step, here, seen, count))
    return errors


def _check_step(step: dict[str, Any], here: str, seen: set[str],
                count: list[int]) -> dict[str, str]:
    kind = step["type"]
    if kind == "wait":
        if "until" in step:
            if not isinstance(step["until"], str) or not CLOCK.match(step["until"]):
                return {f"{here}.until": "a time of day as HH:MM (24-hour clock)"}
        elif not _int_between(step.get("minutes"), 0, MAX_WAIT_MINUTES):
            return {f"{here}.minutes": f"a whole number of minutes from 0 to "
                                       f"{MAX_WAIT_MINUTES}"}
    elif kind == "split":
        errors = conditions.validate(step.get("condition"), f"{here}.condition")
        for branch in ("yes", "no"):
            step.setdefault(branch, [])
            if not isinstance(step[branch], list):
                errors[f"{here}.{branch}"] = "must be a list of steps"
            else:
                errors.update(_check_steps(step[branch], f"{here}.{branch}", seen, count))
        return errors
    elif kind == "email":
        step.setdefault("text", None)
        from app.email.render import check_templates

        return {f"{here}.{field}": why for field, why in check_templates(step).items()}
    elif kind == "award_points":
        if not _int_between(step.get("points"), 1, 1_000_000):
            return {f"{here}.points": "a whole number of points from 1 to 1,000,000"}
        if not isinstance(step.get("reason", ""), str):
            return {f"{here}.reason": "must be text"}
    elif kind == "discount":
        if step.get("kind") not in DISCOUNT_KINDS:
            return {f"{here}.kind": f"one of {', '.join(DISCOUNT_KINDS)}"}
        if step["kind"] != "free_shipping":
            value = _decimal(step.get("value"))
            limit = Decimal("100") if step["kind"] == "percentage" else Decimal("100000")
            if value is None or not (Decimal("0") < value <= limit):
                return {f"{here}.value": f"a number above 0, at most {limit}"}
        if not _int_between(step.get("expires_after_days", 14), 1, 365):
            return {f"{here}.expires_after_days": "a whole number of days from 1 to 365"}
    elif kind == "tag":
        tag = step.get("tag")
        if not isinstance(tag, str) or not tag.strip() or len(tag) > 64:
            return {f"{here}.tag": "a tag of 1 to 64 characters"}
    return {}


def _int_between(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def trigger_events(definition: dict[str, Any]) -> frozenset[str]:
    """The event kinds that start a run of an event-triggered flow (empty for the others)."""
    trigger = definition.get("trigger") or {}
    if trigger.get("type") != "event":
        return frozenset()
    wanted = trigger.get("event")
    return frozenset(wanted if isinstance(wanted, list) else [wanted])


def walk(steps: list[Any]) -> Iterator[dict[str, Any]]:
    """Every step, depth first, branches included."""
    for step in steps:
        if isinstance(step, dict):
            yield step
            if step.get("type") == "split":
                for branch in ("yes", "no"):
                    if isinstance(step.get(branch), list):
                        yield from walk(step[branch])


@dataclass(frozen=True)
class _Place:
    siblings: list[dict[str, Any]]
    index: int
    parent: str | None  # the split's id, or None at the top


class Plan:
    """Navigation in a normalized definition's steps, by step id."""

    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition
        self._places: dict[str, _Place] = {}
        self._index(definition.get("steps", []), None)

    def _index(self, steps: list[dict[str, Any]], parent: str | None) -> None:
        for i, step in enumerate(steps):
            self._places[step["id"]] = _Place(steps, i, parent)
            if step["type"] == "split":
                self._index(step.get("yes", []), step["id"])
                self._index(step.get("no", []), step["id"])

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._places

    def step(self, step_id: str) -> dict[str, Any]:
        place = self._places[step_id]
        return place.siblings[place.index]

    def first(self) -> str | None:
        steps = self.definition.get("steps", [])
        return steps[0]["id"] if steps else None

    def branch(self, split_id: str, branch: str) -> str | None:
        """The first step of a split's branch, or where the run goes if it is empty."""
        steps = self.step(split_id).get(branch, [])
        return steps[0]["id"] if steps else self.after(split_id)

    def after(self, step_id: str) -> str | None:
        """The step after `step_id` is done (None: the run is complete)."""
        place = self._places[step_id]
        if place.index + 1 < len(place.siblings):
            return place.siblings[place.index + 1]["id"]
        return None if place.parent is None else self.after(place.parent)

    def email_steps(self) -> list[dict[str, Any]]:
        return [s for s in walk(self.definition.get("steps", [])) if s["type"] == "email"]
