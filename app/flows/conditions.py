"""Conditions: the one language of trigger filters, flow filters and split steps.

A condition is JSON:

    {"field": "orders_count", "op": "gte", "value": 2}
    {"all": [cond, ...]}      every one holds (an empty list holds)
    {"any": [cond, ...]}      at least one holds
    {"not": cond}

A list of conditions (a flow's `trigger_filters`, `flow_filters`) means `all`.

`segment` is membership of saved segments (app.segments), by id: `{"field": "segment",
"op": "in", "value": [3, 5]}` (in any of them), `not_in` (in none), `eq` / `ne` (one id).
Membership is a query over the whole store's rules, so the caller puts the ids of the
segments the shopper is in now into the facts (`profile["segment"]`, see
app.flows.exits.facts_for); this module stays free of the database.

Fields are the shopper's profile as it is when the condition is checked (`PROFILE_FIELDS`),
and the facts of the run's trigger as `event.<name>` (e.g. `event.total_price`). A field that
has no value satisfies only `is_not_set` (and `ne` / `not_in` / `not_contains`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# name -> one line shown in the editor.
PROFILE_FIELDS: dict[str, str] = {
    "email_marketing": "Email consent: subscribed, unsubscribed or not_subscribed",
    "orders_count": "Orders placed (cancelled orders not counted)",
    "total_spent": "Money spent, in the store's currency",
    "average_order_value": "Average order value",
    "days_since_last_order": "Days since the last order (unset if none)",
    "days_since_first_order": "Days since the first order (unset if none)",
    "points_balance": "Loyalty points available",
    "tier": "Loyalty tier name",
    "country_code": "Country (ISO code, e.g. FR)",
    "tags": "Tags (use contains)",
    "has_email": "Has an email address",
    "segment": "In a saved segment (is one of / is none of)",
}
SEGMENT_FIELD = "segment"
SEGMENT_OPS = ("eq", "ne", "in", "not_in")
OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains",
       "is_set", "is_not_set")
NO_VALUE_OPS = ("is_set", "is_not_set")
EVENT_PREFIX = "event."
MAX_DEPTH = 6


class ConditionInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Facts:
    """What conditions are checked against: profile values by field name, and the trigger's
    facts (the run's `context["event"]`)."""

    profile: Mapping[str, Any]
    event: Mapping[str, Any]

    def get(self, field: str) -> Any:
        if field.startswith(EVENT_PREFIX):
            return self.event.get(field[len(EVENT_PREFIX):])
        return self.profile.get(field)


def profile_facts(customer: Any, now: datetime) -> dict[str, Any]:
    """The profile fields of a `customers` row (an ORM object or a Row with those columns)."""

    def days_since(when: datetime | None) -> int | None:
        return None if when is None else max(0, (now - when).days)

    tags = [t.strip().lower() for t in (customer.tags or "").split(",") if t.strip()]
    return {
        "email_marketing": customer.email_marketing,
        "orders_count": customer.orders_count or 0,
        "total_spent": customer.total_spent or Decimal("0"),
        "average_order_value": customer.average_order_value,
        "days_since_last_order": days_since(customer.last_order_at),
        "days_since_first_order": days_since(customer.first_order_at),
        "points_balance": customer.points_balance or 0,
        "tier": customer.tier,
        "country_code": customer.country_code,
        "tags": tags,
        "has_email": bool(customer.email),
    }


def validate(condition: Any, path: str = "", depth: int = 0) -> dict[str, str]:
    """Errors by path (`flow_filters.0.value`), empty when the condition is well formed."""
    if depth > MAX_DEPTH:
        return {path: f"conditions nest at most {MAX_DEPTH} deep"}
    if not isinstance(condition, dict):
        return {path: "must be an object: {field, op, value}, {all: [...]}, {any: [...]} "
                      "or {not: ...}"}
    for group in ("all", "any"):
        if group in condition:
            items = condition[group]
            if not isinstance(items, list):
                return {f"{path}.{group}": "must be a list of conditions"}
            errors: dict[str, str] = {}
            for i, item in enumerate(items):
                errors.update(validate(item, f"{path}.{group}.{i}", depth + 1))
            return errors
    if "not" in condition:
        return validate(condition["not"], f"{path}.not", depth + 1)
    field, op = condition.get("field"), condition.get("op")
    if not isinstance(field, str) or not (
            field in PROFILE_FIELDS or (field.startswith(EVENT_PREFIX)
                                        and len(field) > len(EVENT_PREFIX))):
        return {f"{path}.field": f"unknown field {field!r}: use one of "
                                 f"{', '.join(PROFILE_FIELDS)}, or event.<name>"}
    if op not in OPS:
        return {f"{path}.op": f"unknown operator {op!r}: use one of {', '.join(OPS)}"}
    if field == SEGMENT_FIELD:
        return _validate_segment(condition, op, path)
    if op in ("in", "not_in") and not isinstance(condition.get("value"), list):
        return {f"{path}.value": f"{op} needs a list of values"}
    if op not in NO_VALUE_OPS and "value" not in condition:
        return {f"{path}.value": f"{op} needs a value"}
    return {}


def _segment_id(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _validate_segment(condition: Mapping[str, Any], op: str, path: str) -> dict[str, str]:
    if op not in SEGMENT_OPS:
        return {f"{path}.op": f"segment takes one of {', '.join(SEGMENT_OPS)}"}
    value = condition.get("value")
    values = value if isinstance(value, list) else [value]
    if op in ("in", "not_in") and not (isinstance(value, list) and value):
        return {f"{path}.value": f"{op} needs a list of segment ids"}
    if any(_segment_id(v) is None for v in values):
        return {f"{path}.value": "must be a segment id (a whole number), or a list of them"}
    return {}


def segment_ids(condition: Any) -> set[int]:
    """The ids of the saved segments a condition (or a list of them) asks about."""
    if isinstance(condition, list):
        return set().union(*(segment_ids(c) for c in condition)) if condition else set()
    if not isinstance(condition, dict):
        return set()
    for group in ("all", "any"):
        if isinstance(condition.get(group), list):
            return segment_ids(condition[group])
    if "not" in condition:
        return segment_ids(condition["not"])
    if condition.get("field") != SEGMENT_FIELD:
        return set()
    value = condition.get("value")
    found = {_segment_id(v) for v in (value if isinstance(value, list) else [value])}
    return {i for i in found if i is not None}


def _in_segments(members: Any, op: str, expected: Any) -> bool:
    wanted = {_segment_id(v) for v in (expected if isinstance(expected, list) else [expected])}
    inside = bool(wanted & set(members or ()))
    return inside if op in ("eq", "in") else not inside


def evaluate(condition: Any, facts: Facts) -> bool:
    """Whether `condition` (or a list of them, meaning all) holds for `facts`."""
    if isinstance(condition, list):
        return all(evaluate(c, facts) for c in condition)
    if "all" in condition:
        return all(evaluate(c, facts) for c in condition["all"])
    if "any" in condition:
        return any(evaluate(c, facts) for c in condition["any"])
    if "not" in condition:
        return not evaluate(condition["not"], facts)
    if condition["field"] == SEGMENT_FIELD:
        return _in_segments(facts.get(SEGMENT_FIELD), condition["op"], condition.get("value"))
    return _compare(facts.get(condition["field"]), condition["op"], condition.get("value"))


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _same(actual: Any, expected: Any) -> bool:
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return a == b
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.strip().lower() == expected.strip().lower()
    return actual == expected


def _compare(actual: Any, op: str, expected: Any) -> bool:
    if op == "is_set":
        return actual not in (None, "", [])
    if op == "is_not_set":
        return actual in (None, "", [])
    if op == "ne":
        return actual is None or not _same(actual, expected)
    if op == "not_in":
        return actual is None or not any(_same(actual, e) for e in expected)
    if op == "not_contains":
        return not _compare(actual, "contains", expected)
    if actual is None:
        return False
    if op == "eq":
        return _same(actual, expected)
    if op == "in":
        return any(_same(actual, e) for e in expected)
    if op == "contains":
        if isinstance(actual, list | tuple | set):
            return any(_same(a, expected) for a in actual)
        return str(expected).strip().lower() in str(actual).lower()
    a, b = _number(actual), _number(expected)
    if a is None or b is None:
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
