"""The segment rule language, and its compilation to one SQL WHERE over `customers`.

Rules are JSON, in the same grammar as the flows' conditions (`app.flows.conditions`):

    {"field": "total_spent", "op": "gte", "value": "100"}
    {"all": [rule, ...]}   every one holds (an empty list holds for everybody)
    {"any": [rule, ...]}   at least one holds (an empty list holds for nobody)
    {"not": rule}

A list of rules means `all`. Field names and operators are the flows' where both have them
(`orders_count`, `total_spent`, `tags`, `country_code`, `email_marketing`, `tier`, `eq`,
`in`, `contains`, ...); segments add what only a query over the whole store can answer
(products bought, dates as dates, RFM, predictions). A flow reaches a segment through the
flows' `segment` field, so one saved segment serves the customer list, exports and flows.

Every rule is evaluated when asked, against the clock of that moment (`now`): "last order
more than 90 days ago" is right at every query, with no nightly membership table. Absolute
dates are days in the store's time zone. A field without a value (no orders yet, no
prediction) satisfies only `is_not_set`, `ne` and `not_in`, as in the flows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import Session

from app.customers.models import CustomerTag
from app.customers.notes import normalize_tag
from app.db import utcnow
from app.profiles.models import (
    NOT_SUBSCRIBED,
    SUBSCRIBED,
    UNSUBSCRIBED,
    Customer,
    Order,
    OrderLine,
)
from app.profiles.rfm_rules import SEGMENTS
from app.settings.timezone import shop_zone
from app.shops.models import Shop

# The RFM analysis's segment names, in its order (the rule table's).
RFM_SEGMENTS = SEGMENTS
CONSENT_STATES = (SUBSCRIBED, UNSUBSCRIBED, NOT_SUBSCRIBED)
MAX_AMOUNT = Decimal("99999999999999.9999")
MAX_INT = 2**31 - 1
MAX_DAYS = 36500
MAX_DEPTH = 6
MAX_RULES = 100
MAX_TEXT = 255

NUMBER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "is_set", "is_not_set")
DATE_OPS = ("before", "after", "more_than_days_ago", "within_last_days", "is_set",
            "is_not_set")
TEXT_OPS = ("eq", "ne", "in", "not_in", "is_set", "is_not_set")
NO_VALUE_OPS = ("is_set", "is_not_set")
LIST_OPS = ("in", "not_in")
RELATIVE_OPS = ("more_than_days_ago", "within_last_days")
OP_LABELS = {"eq": "is", "ne": "is not", "gt": "is more than", "gte": "is at least",
             "lt": "is less than", "lte": "is at most", "in": "is one of",
             "not_in": "is none of", "contains": "includes", "not_contains": "does not include",
             "is_set": "is set", "is_not_set": "is not set", "before": "is before",
             "after": "is after", "more_than_days_ago": "is more than N days ago",
             "within_last_days": "is within the last N days"}


@dataclass(frozen=True)
class Field:
    kind: str  # money | int | ratio | date | text | choice | tags | product_id | product_title
    label: str
    help: str
    ops: tuple[str, ...]
    choices: tuple[str, ...] = ()


FIELDS: dict[str, Field] = {
    "total_spent": Field("money", "Total spent", "Money spent on counted orders, net of "
                         "refunds, in the store's currency.", NUMBER_OPS),
    "orders_count": Field("int", "Number of orders", "Orders placed, not counting "
                          "cancelled or test orders.", NUMBER_OPS),
    "average_order_value": Field("money", "Average order value", "Total spent divided by "
                                 "the number of orders (unset without orders).", NUMBER_OPS),
    "first_order_at": Field("date", "First order date", "When the first counted order was "
                            "placed (dates are days in the store's time zone).", DATE_OPS),
    "last_order_at": Field("date", "Last order date", "When the latest counted order was "
                           "placed (dates are days in the store's time zone).", DATE_OPS),
    "product_id": Field("product_id", "Product bought (id)", "Bought the product with this "
                        "platform id in a counted order (several ids: any of them).",
                        ("in", "not_in")),
    "product_title": Field("product_title", "Product bought (title)", "Bought a product whose "
                           "title contains this text (any case) in a counted order.",
                           ("contains", "not_contains")),
    "tags": Field("tags", "Tag", "A tag from the store platform or one added in Sticky "
                  "(any case).", ("contains", "not_contains")),
    "country_code": Field("text", "Country", "The customer's country, as a 2-letter ISO "
                          "code (FR, DE, US).", TEXT_OPS),
    "email_marketing": Field("choice", "Email consent", "subscribed, unsubscribed or "
                             "not_subscribed (never asked).", TEXT_OPS, CONSENT_STATES),
    "tier": Field("text", "Loyalty tier", "The loyalty tier's name (any case).", TEXT_OPS),
    "points_balance": Field("int", "Points balance", "Loyalty points available to spend.",
                            NUMBER_OPS),
    "rfm_segment": Field("choice", "RFM segment", "The customer's group by recency, "
                         "frequency and money spent.", TEXT_OPS, RFM_SEGMENTS),
    "churn_risk": Field("ratio", "Churn risk", "The chance, from 0 to 1, that the customer "
                        "has stopped buying (unset until predictions run).", NUMBER_OPS),
    "predicted_clv": Field("money", "Predicted lifetime value", "Predicted spend in the next "
                           "365 days, in the store's currency (unset until predictions run).",
                           NUMBER_OPS),
}
# Fields a merchant may expect that the store's mirror cannot answer, and why.
UNAVAILABLE = {
    "collection": "collections are not available: Sticky keeps each order line's product "
                  "id and title but not the store's collections; use product_id with the "
                  "collection's product ids, or product_title",
}

_COLUMNS = {"total_spent": Customer.total_spent, "orders_count": Customer.orders_count,
            "average_order_value": Customer.average_order_value,
            "first_order_at": Customer.first_order_at, "last_order_at": Customer.last_order_at,
            "country_code": Customer.country_code, "email_marketing": Customer.email_marketing,
            "tier": Customer.tier, "points_balance": Customer.points_balance,
            "rfm_segment": Customer.rfm_segment, "churn_risk": Customer.churn_risk,
            "predicted_clv": Customer.predicted_clv}


class RulesInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{path}: {why}" for path, why in errors.items()))
        self.errors = errors


# --- validation ------------------------------------------------------------------------


def _money(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be an amount, e.g. 100 or \"99.50\"")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError("must be an amount, e.g. 100 or \"99.50\"") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise ValueError("must be an amount below 100,000,000,000,000")
    return format(amount.normalize(), "f")


def _whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,12}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def _ratio(value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 <= number <= 1:
        raise ValueError("must be a number from 0 to 1, e.g. 0.7")
    return number


def _day(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError("this date does not exist") from None
    if not 1900 <= day.year <= 2999:
        raise ValueError("must be a date between 1900 and 2999")
    return day.isoformat()


def _text(value: Any, spec: Field, name: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and spec.kind in (
            "product_id",):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty text")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"must be at most {MAX_TEXT} characters")
    if spec.choices:
        if text not in spec.choices:
            raise ValueError(f"must be one of: {', '.join(spec.choices)}")
    elif name == "country_code":
        if not re.fullmatch(r"[A-Za-z]{2}", text):
            raise ValueError("must be a 2-letter country code, e.g. FR")
        text = text.upper()
    elif spec.kind == "tags":
        text = normalize_tag(text)
    return text


def _value(spec: Field, name: str, op: str, value: Any) -> Any:
    """The value in its stored form, or ValueError saying why it is wrong."""
    if op in LIST_OPS:
        if not isinstance(value, list) or not value:
            raise ValueError(f"{op} needs a non-empty list of values")
        if len(value) > MAX_RULES:
            raise ValueError(f"at most {MAX_RULES} values")
        return [_text(v, spec, name) for v in value]
    if spec.kind == "money":
        return _money(value)
    if spec.kind == "int":
        return _whole(value, -MAX_INT, MAX_INT)
    if spec.kind == "ratio":
        return _ratio(value)
    if spec.kind == "date":
        return _whole(value, 0, MAX_DAYS) if op in RELATIVE_OPS else _day(value)
    return _text(value, spec, name)


def validate(rules: Any) -> tuple[Any, dict[str, str]]:
    """(the rules in their stored form, {path: why} for each mistake). Paths name where the
    mistake is: `rules.all.0.value`. Never raises."""
    errors: dict[str, str] = {}
    count = [0]

    def walk(node: Any, path: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            errors[path] = f"rules nest at most {MAX_DEPTH} groups deep"
            return None
        if isinstance(node, list):
            return {"all": [walk(item, f"{path}.{i}", depth + 1) for i, item in enumerate(node)]}
        if not isinstance(node, dict):
            errors[path] = ("must be an object: {field, op, value}, {all: [...]}, "
                            "{any: [...]} or {not: ...}")
            return None
        for group in ("all", "any"):
            if group in node:
                items = node[group]
                if not isinstance(items, list):
                    errors[f"{path}.{group}"] = "must be a list of rules"
                    return None
                return {group: [walk(item, f"{path}.{group}.{i}", depth + 1)
                                for i, item in enumerate(items)]}
        if "not" in node:
            return {"not": walk(node["not"], f"{path}.not", depth + 1)}
        count[0] += 1
        if count[0] == MAX_RULES + 1:
            errors[path] = f"a segment has at most {MAX_RULES} rules"
        name, op = node.get("field"), node.get("op")
        if isinstance(name, str) and name in UNAVAILABLE:
            errors[f"{path}.field"] = UNAVAILABLE[name]
            return None
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            errors[f"{path}.field"] = f"unknown field {name!r}: use one of {', '.join(FIELDS)}"
            return None
        if op not in spec.ops:
            errors[f"{path}.op"] = (f"{name} takes one of these operators: "
                                    f"{', '.join(spec.ops)}")
            return None
        if op in NO_VALUE_OPS:
            return {"field": name, "op": op}
        if "value" not in node:
            errors[f"{path}.value"] = f"{op} needs a value"
            return None
        try:
            return {"field": name, "op": op, "value": _value(spec, name, op, node["value"])}
        except ValueError as exc:
            errors[f"{path}.value"] = str(exc)
            return None

    normalized = walk(rules, "rules", 0)
    return normalized, errors


def checked(rules: Any) -> Any:
    """The rules in stored form, or RulesInvalid."""
    normalized, errors = validate(rules)
    if errors:
        raise RulesInvalid(errors)
    return normalized


# --- compilation -----------------------------------------------------------------------


def _day_start(day: str, zone: ZoneInfo, plus: int = 0) -> datetime:
    moment = datetime.combine(date.fromisoformat(day) + timedelta(days=plus), time.min,
                              tzinfo=zone)
    return moment.astimezone(UTC)


def _counted_lines(shop_id: int) -> Any:
    """Order lines of the customer's counted orders (not cancelled, not test), correlated."""
    return (select(OrderLine.id).join(Order, Order.id == OrderLine.order_id)
            .where(Order.customer_id == Customer.id, Order.shop_id == shop_id,
                   Order.cancelled_at.is_(None), Order.test.is_(False)))


def _has_tag(shop_id: int, tag: str) -> ColumnElement:
    # The platform's list is "a, b, c" (both platforms join with ", "): made ",a,b,c," so a
    # tag matches whole, never a part of another tag.
    listed = ("," + func.lower(func.replace(func.replace(func.coalesce(Customer.tags, ""),
                                                         ", ", ","), " ,", ",")) + ",")
    escaped = tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(listed.like(f"%,{escaped},%", escape="\\"),
               exists(select(CustomerTag.id).where(
                   CustomerTag.customer_id == Customer.id, CustomerTag.shop_id == shop_id,
                   CustomerTag.tag_normalized == tag)))


def _leaf(rule: dict[str, Any], shop_id: int, zone: ZoneInfo, now: datetime) -> ColumnElement:
    """One rule as a two-valued SQL condition (never NULL, so `not` is exact)."""
    name, op, value = rule["field"], rule["op"], rule.get("value")
    spec = FIELDS[name]
    if spec.kind == "tags":
        found = _has_tag(shop_id, value)
        return found if op == "contains" else not_(found)
    if spec.kind in ("product_id", "product_title"):
        lines = _counted_lines(shop_id)
        if spec.kind == "product_id":
            lines = lines.where(OrderLine.product_id.in_(value))
        else:
            lines = lines.where(func.lower(OrderLine.title).contains(value.lower(),
                                                                     autoescape=True))
        return exists(lines) if op in ("in", "contains") else not_(exists(lines))
    column = _COLUMNS[name]
    if op == "is_set":
        return column.is_not(None)
    if op == "is_not_set":
        return column.is_(None)
    if spec.kind == "date":
        if op == "before":
            test = column < _day_start(value, zone)
        elif op == "after":
            test = column >= _day_start(value, zone, plus=1)
        elif op == "more_than_days_ago":
            test = column < now - timedelta(days=value)
        else:  # within_last_days
            test = column >= now - timedelta(days=value)
        return and_(column.is_not(None), test)
    if spec.kind in ("money", "int", "ratio"):
        number = Decimal(value) if spec.kind == "money" else value
        if op == "ne":
            return or_(column.is_(None), column != number)
        test = {"eq": column == number, "gt": column > number, "gte": column >= number,
                "lt": column < number, "lte": column <= number}[op]
        return and_(column.is_not(None), test)
    # text and choice: country codes and tier names compare in any case.
    if name == "tier":
        column, value = func.lower(column), (
            [v.lower() for v in value] if isinstance(value, list) else value.lower())
    elif name == "country_code":
        column = func.upper(column)
    values = value if isinstance(value, list) else [value]
    if op in ("ne", "not_in"):
        return or_(column.is_(None), column.not_in(values))
    return and_(column.is_not(None), column.in_(values))


def compile_rules(rules: Any, shop_id: int, zone: ZoneInfo, now: datetime) -> ColumnElement:
    """Rules in stored form (see `checked`) as a SQL condition on `customers` (not scoped)."""
    if isinstance(rules, list):
        rules = {"all": rules}
    if "all" in rules:
        parts = [compile_rules(r, shop_id, zone, now) for r in rules["all"]]
        return and_(*parts) if parts else true()
    if "any" in rules:
        parts = [compile_rules(r, shop_id, zone, now) for r in rules["any"]]
        return or_(*parts) if parts else false()
    if "not" in rules:
        return not_(compile_rules(rules["not"], shop_id, zone, now))
    return _leaf(rules, shop_id, zone, now)


def where(session: Session, shop: Shop, rules: Any,
          now: datetime | None = None) -> list[ColumnElement]:
    """The WHERE of the store's live (not deleted) profiles matching `rules` as of `now`
    (default: this moment). Raises RulesInvalid for rules that are not well formed."""
    compiled = compile_rules(checked(rules), shop.id, shop_zone(session, shop),
                             now or utcnow())
    return [Customer.shop_id == shop.id, Customer.deleted_at.is_(None), compiled]


def count_matching(session: Session, shop: Shop, rules: Any,
                   now: datetime | None = None) -> int:
    """How many of the store's live profiles match `rules` now (or as of `now`)."""
    return session.execute(select(func.count()).select_from(Customer)
                           .where(*where(session, shop, rules, now))).scalar_one()


def matching_ids(session: Session, shop: Shop, rules: Any, *, limit: int,
                 now: datetime | None = None) -> list[int]:
    """The ids of up to `limit` matching profiles, latest buyers first (a preview)."""
    return list(session.execute(
        select(Customer.id).where(*where(session, shop, rules, now))
        .order_by(Customer.last_order_at.desc().nulls_last(), Customer.id.desc())
        .limit(limit)).scalars())
