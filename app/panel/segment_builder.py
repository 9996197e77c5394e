"""The segment builder's form: rules as groups of rows, read from and written to a plain
HTML form, so the page works without JavaScript (its buttons post the form back).

The form holds a `match` (all / any) over groups, each group a `match` over rows of field,
operator and value: `{match: [{g1match: [row, ...]}, ...]}` in the rule language. Rules the
builder cannot draw (a `not`, groups inside groups, from the API) are edited as JSON.
Rows without a value are left out (a row just added), so the live count never stops at one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.segments.rules import FIELDS, LIST_OPS, NO_VALUE_OPS, OP_LABELS

MAX_GROUPS = 10
MAX_ROWS = 20
MATCHES = ("all", "any")


@dataclass
class Row:
    field: str = "total_spent"
    op: str = "gte"
    value: str = ""
    error: str = ""

    @property
    def blank(self) -> bool:
        return not self.value.strip() and self.op not in NO_VALUE_OPS


@dataclass
class Group:
    match: str = "all"
    rows: list[Row] = field(default_factory=list)


@dataclass
class Builder:
    name: str = ""
    match: str = "all"
    groups: list[Group] = field(default_factory=list)
    rules_json: str | None = None  # set when the rules are edited as JSON
    errors: dict[str, str] = field(default_factory=dict)  # name, rules (JSON), general

    def rules(self) -> tuple[Any, dict[str, tuple[int, int]]]:
        """The rules, and for each rule path the (group, row) it came from. None (and
        `errors["rules"]` set) for JSON that does not parse."""
        if self.rules_json is not None:
            try:
                return json.loads(self.rules_json or "{}"), {}
            except ValueError as exc:
                self.errors["rules"] = f"This is not JSON: {exc}."
                return None, {}
        where: dict[str, tuple[int, int]] = {}
        groups = []
        for g, group in enumerate(self.groups):
            leaves = []
            for r, row in enumerate(group.rows):
                if row.blank:
                    continue
                where[f"rules.{self.match}.{len(groups)}.{group.match}.{len(leaves)}"] = (g, r)
                leaves.append(_rule(row))
            if leaves:
                groups.append({group.match: leaves})
        return {self.match: groups}, where

    def place_errors(self, errors: dict[str, str], where: dict[str, tuple[int, int]]) -> None:
        """Put each rule error next to its row (or on the JSON box)."""
        for path, why in errors.items():
            if self.rules_json is not None:
                self.errors["rules"] = f"{path}: {why}"
                continue
            for prefix, (g, r) in where.items():
                if path == prefix or path.startswith(prefix + "."):
                    self.groups[g].rows[r].error = why[:1].upper() + why[1:] + "."
                    break
            else:
                self.errors["rules"] = f"{path}: {why}"


def _rule(row: Row) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": row.field, "op": row.op}
    if row.op in NO_VALUE_OPS:
        return rule
    text = row.value.strip()
    rule["value"] = ([part.strip() for part in text.split(",") if part.strip()]
                     if row.op in LIST_OPS else text)
    return rule


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _is_leaf(node: Any) -> bool:
    return isinstance(node, dict) and "field" in node and not ({"all", "any", "not"} & set(node))


def from_rules(name: str, rules: Any) -> Builder:
    """The builder showing saved rules (JSON when it cannot draw them)."""
    builder = Builder(name=name)
    node = {"all": rules} if isinstance(rules, list) else rules
    match = next((m for m in MATCHES if isinstance(node, dict) and m in node), None)
    if match is None:
        builder.rules_json = json.dumps(rules, indent=2)
        return builder
    builder.match = match
    loose = Group(match=match)
    for item in node[match]:
        if _is_leaf(item):
            loose.rows.append(_row(item))
            continue
        inner = next((m for m in MATCHES if isinstance(item, dict) and m in item), None)
        if inner is None or not all(_is_leaf(x) for x in item[inner]):
            return Builder(name=name, rules_json=json.dumps(rules, indent=2))
        builder.groups.append(Group(match=inner, rows=[_row(x) for x in item[inner]]))
    if loose.rows:
        builder.groups.insert(0, loose)
    if not builder.groups:
        builder.groups.append(Group(rows=[Row()]))
    return builder


def _row(rule: dict[str, Any]) -> Row:
    return Row(field=str(rule.get("field")), op=str(rule.get("op")),
               value=_value_text(rule.get("value")))


def from_form(form: Any) -> Builder:
    """The builder as posted (request.form), with the action of the button pressed applied:
    add_row:<g>, remove_row:<g>:<r>, add_group, remove_group:<g>, as_json."""
    builder = Builder(name=(form.get("name") or "").strip()[:200],
                      match=form.get("match") if form.get("match") in MATCHES else "all")
    if "rules_json" in form:
        builder.rules_json = form.get("rules_json") or ""
        return builder
    for g in range(MAX_GROUPS):
        if f"groups-{g}-match" not in form:
            break
        group = Group(match=form.get(f"groups-{g}-match") if form.get(
            f"groups-{g}-match") in MATCHES else "all")
        for r in range(MAX_ROWS):
            prefix = f"groups-{g}-rows-{r}-"
            if prefix + "field" not in form:
                break
            name = form.get(prefix + "field") or ""
            spec = FIELDS.get(name)
            op = form.get(prefix + "op") or ""
            if spec is not None and op not in spec.ops:
                op = spec.ops[0]  # the field changed: its own first operator
            value = (form.get(prefix + "value") or "")[:1000]
            group.rows.append(Row(field=name, op=op, value=value))
        builder.groups.append(group)
    action = (form.get("action") or "").split(":")
    if action[0] == "add_row" and len(action) == 2 and action[1].isdigit():
        g = int(action[1])
        if g < len(builder.groups) and len(builder.groups[g].rows) < MAX_ROWS:
            builder.groups[g].rows.append(Row())
    elif action[0] == "remove_row" and len(action) == 3 and action[1].isdigit() \
            and action[2].isdigit():
        g, r = int(action[1]), int(action[2])
        if g < len(builder.groups) and r < len(builder.groups[g].rows):
            del builder.groups[g].rows[r]
    elif action[0] == "add_group" and len(builder.groups) < MAX_GROUPS:
        builder.groups.append(Group(rows=[Row()]))
    elif action[0] == "remove_group" and len(action) == 2 and action[1].isdigit():
        if int(action[1]) < len(builder.groups):
            del builder.groups[int(action[1])]
    elif action[0] == "as_json":
        rules, _ = builder.rules()
        builder.rules_json = json.dumps(rules, indent=2)
    if not builder.groups and builder.rules_json is None:
        builder.groups.append(Group(rows=[Row()]))
    return builder


def field_options() -> list[tuple[str, str, str]]:
    """(name, label, one-line definition) of every field, for the row's select."""
    return [(name, spec.label, spec.help) for name, spec in FIELDS.items()]


def op_options(name: str) -> list[tuple[str, str]]:
    spec = FIELDS.get(name) or FIELDS["total_spent"]
    return [(op, OP_LABELS[op]) for op in spec.ops]


def placeholder(name: str, op: str) -> str:
    """What to type in the value box for this field and operator."""
    spec = FIELDS.get(name)
    if spec is None or op in NO_VALUE_OPS:
        return ""
    if op in ("more_than_days_ago", "within_last_days"):
        return "days, e.g. 90"
    if op in ("before", "after"):
        return "YYYY-MM-DD"
    if spec.choices:
        return (", ".join(spec.choices[:3]) + "…") if op in LIST_OPS else spec.choices[0]
    return {"money": "e.g. 100", "int": "e.g. 2", "ratio": "0 to 1, e.g. 0.7",
            "text": "e.g. FR" if name == "country_code" else "e.g. Gold",
            "tags": "e.g. VIP", "product_id": "ids, comma-separated",
            "product_title": "e.g. mug"}.get(spec.kind, "")
