"""The customer list: one definition of search, filters, sort and pages, used by
`GET /api/customers`, the panel's `/admin/customers` and both CSV exports.

`parse_filters(args)` reads a query string into `CustomerFilters` plus a message per field
that is wrong (the API answers 400 with them, the panel shows each next to its field);
`list_customers` gives one page with its total; `export.py` streams every match.

Speed on a store with 100,000 profiles (PostgreSQL; measured in the branch report):
- the page is chosen on ids only (`_page_ids`) and only its rows are then loaded, so a sort
  moves 16-byte (key, id) pairs instead of whole rows;
- a page past the middle is read from the other end of the order, in reverse (a "last page"
  costs what a first page costs);
- a search counts its matches in the same scan that finds the page (a window count);
- "total spent" is served by `ix_customers_shop_total_spent` (migration 0012c), which also
  makes every count an index-only scan; the other orders sort the store's (key, id) pairs,
  and search scans the profiles: trigram indexes on `customers` would cost every order
  webhook a GIN update (see the migration).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from app.customers.models import CustomerNote, CustomerTag
from app.customers.notes import normalize_tag
from app.profiles.identity import normalize_email
from app.profiles.models import NOT_SUBSCRIBED, SUBSCRIBED, UNSUBSCRIBED, Customer
from app.profiles.rfm_rules import SEGMENTS, canonical_segment

PAGE_SIZE = 50
MAX_PAGE_SIZE = 250
MAX_PAGE = 1_000_000
MAX_SEARCH_LENGTH = 255
CONSENT_STATES = (SUBSCRIBED, UNSUBSCRIBED, NOT_SUBSCRIBED)
# The largest amount a money column holds (Numeric(18, 4)).
MAX_AMOUNT = Decimal("99999999999999.9999")

# Sort keys, and the direction each starts in when its column header is first clicked.
SORT_KEYS = {"last_order_at": "desc", "total_spent": "desc", "orders_count": "desc",
             "name": "asc", "email": "asc", "created_at": "desc"}
DEFAULT_SORT = "-last_order_at"

# "Customer since": when the store created the customer, else when Sticky first saw them
# (a guest known only from an order or checkout).
customer_since = func.coalesce(Customer.platform_created_at, Customer.created_at)
_full_name = func.nullif(func.trim(
    func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, "")), "")


@dataclass(frozen=True)
class CustomerFilters:
    """What a merchant asked the list for. Empty values mean "any"."""

    q: str = ""
    email: str = ""
    segment: str = ""
    tag: str = ""
    has_orders: bool | None = None
    email_marketing: str = ""
    last_order_from: date | None = None
    last_order_to: date | None = None
    min_spent: Decimal | None = None
    max_spent: Decimal | None = None
    sort: str = DEFAULT_SORT
    # A saved segment's condition (app.segments.membership.resolve_filters reads `segment`
    # as a segment id and sets it); not a query parameter of its own.
    segment_where: Any = field(default=None, compare=False, repr=False)

    def query_args(self, **changes: Any) -> dict[str, str]:
        """The filters as query-string values (empty ones left out), for links and forms.
        `changes` replace filters (None clears one) or add other parameters (`page=2`)."""
        mine = {name: value for name, value in changes.items() if name in _FILTER_NAMES}
        extra = {name: value for name, value in changes.items() if name not in mine}
        args: dict[str, str] = {}
        changed = replace(self, **mine)
        current = [(name, getattr(changed, name)) for name in _FILTER_NAMES_IN_ORDER]
        for name, value in [*current, *extra.items()]:
            if value is None or value == "" or (name == "sort" and value == DEFAULT_SORT):
                continue
            if isinstance(value, bool):
                value = "yes" if value else "no"
            args[name] = str(value)
        return args

    @property
    def narrowed(self) -> bool:
        """True when anything but the sort order is set."""
        return bool(self.query_args(sort=DEFAULT_SORT))


_FILTER_NAMES_IN_ORDER = tuple(f.name for f in fields(CustomerFilters)
                               if f.name != "segment_where")
_FILTER_NAMES = frozenset(_FILTER_NAMES_IN_ORDER)


def _text(args: Mapping[str, str], name: str) -> str:
    value = args.get(name)
    return value.strip() if isinstance(value, str) else ""


def _amount(raw: str) -> Decimal:
    try:
        amount = Decimal(raw.replace(" ", ""))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise ValueError("Enter an amount like 25 or 99.50.")
    if amount < 0:
        raise ValueError("Enter an amount of 0 or more.")
    if amount > MAX_AMOUNT:
        raise ValueError("Enter an amount below 100,000,000,000,000.")
    return amount


def _day(raw: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw, re.ASCII):
        raise ValueError("Enter a date as YYYY-MM-DD.")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError("This date does not exist.") from None
    if not 1900 <= day.year <= 2999:
        raise ValueError("Enter a date between 1900 and 2999.")
    return day


def parse_filters(args: Mapping[str, str]) -> tuple[CustomerFilters, dict[str, str]]:
    """Read the list's query parameters. Returns the filters and, for each parameter that is
    wrong, a sentence saying why (keyed by the parameter's name). Never raises."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name in ("q", "email", "segment", "tag"):
        values[name] = _text(args, name)
        if len(values[name]) > MAX_SEARCH_LENGTH:
            errors[name] = f"Use at most {MAX_SEARCH_LENGTH} characters."
            values[name] = ""
    # A number is a saved segment's id (app.segments.membership.resolve_filters reads it);
    # anything else must name an RFM segment.
    if values["segment"] and not values["segment"].isdigit():
        segment = canonical_segment(values["segment"])
        if segment is None:
            errors["segment"] = ("Choose a saved segment, or one of the RFM segments: "
                                 + ", ".join(SEGMENTS) + ".")
        values["segment"] = segment or ""
    has_orders = _text(args, "has_orders").lower()
    if has_orders in ("yes", "no"):
        values["has_orders"] = has_orders == "yes"
    elif has_orders not in ("", "any"):
        errors["has_orders"] = "Choose yes or no."
    consent = _text(args, "email_marketing").lower()
    if consent in CONSENT_STATES:
        values["email_marketing"] = consent
    elif consent not in ("", "any"):
        errors["email_marketing"] = "Choose subscribed, unsubscribed or not_subscribed."
    for name, read in (("last_order_from", _day), ("last_order_to", _day),
                       ("min_spent", _amount), ("max_spent", _amount)):
        raw = _text(args, name)
        if raw:
            try:
                values[name] = read(raw)
            except ValueError as exc:
                errors[name] = str(exc)
    if (values.get("last_order_from") and values.get("last_order_to")
            and values["last_order_to"] < values["last_order_from"]):
        errors["last_order_to"] = "Choose a date on or after the “from” date."
    if (values.get("min_spent") is not None and values.get("max_spent") is not None
            and values["max_spent"] < values["min_spent"]):
        errors["max_spent"] = "Enter a maximum at least as large as the minimum."
    sort = _text(args, "sort") or DEFAULT_SORT
    if sort.lstrip("-") in SORT_KEYS and sort.count("-") <= 1:
        values["sort"] = sort
    else:
        errors["sort"] = ("Sort by one of " + ", ".join(SORT_KEYS)
                          + " (a leading - sorts in descending order).")
    return CustomerFilters(**values), errors


def parse_page(args: Mapping[str, str], name: str, default: int, highest: int) -> int | str:
    """A whole number in 1..highest from the query (default when absent), or why not."""
    raw = _text(args, name)
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit():
        return f"{name} must be a whole number"
    value = int(raw) if len(raw) <= 12 else highest + 1
    if not 1 <= value <= highest:
        return f"{name} must be between 1 and {highest}"
    return value


# --- the query --------------------------------------------------------------------------


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def conditions(shop_id: int, filters: CustomerFilters, zone: ZoneInfo) -> list[ColumnElement]:
    """The WHERE clause of the list: the store's profiles not deleted, narrowed by filters.

    `zone` is the store's time zone (app.settings.timezone.shop_zone): "orders from 1 March"
    means from the store's midnight."""
    where: list[ColumnElement] = [Customer.shop_id == shop_id, Customer.deleted_at.is_(None)]
    if filters.email:
        # Not an address (no @): compared as typed, so it matches nobody, never the profiles
        # without an email (`== None` would mean IS NULL).
        where.append(Customer.email_normalized
                     == (normalize_email(filters.email) or filters.email.lower()))
    if filters.q:
        where.append(_search(shop_id, filters.q))
    if filters.segment_where is not None:
        where.append(filters.segment_where)
    elif filters.segment:
        where.append(Customer.rfm_segment == filters.segment)
    if filters.tag:
        where.append(Customer.id.in_(select(CustomerTag.customer_id).where(
            CustomerTag.shop_id == shop_id,
            CustomerTag.tag_normalized == normalize_tag(filters.tag))))
    if filters.has_orders is not None:
        where.append(Customer.orders_count > 0 if filters.has_orders
                     else Customer.orders_count == 0)
    if filters.email_marketing:
        where.append(Customer.email_marketing == filters.email_marketing)
    if filters.last_order_from:
        where.append(Customer.last_order_at >= _day_start(filters.last_order_from, zone))
    if filters.last_order_to:
        where.append(Customer.last_order_at
                     < _day_start(filters.last_order_to + timedelta(days=1), zone))
    if filters.min_spent is not None:
        where.append(Customer.total_spent >= filters.min_spent)
    if filters.max_spent is not None:
        where.append(Customer.total_spent <= filters.max_spent)
    return where


def _search(shop_id: int, q: str) -> ColumnElement:
    """A case-insensitive substring of the name, email, platform tags, a merchant tag or a
    note. autoescape makes `%`, `_` and the escape character mean themselves, on PostgreSQL
    and SQLite alike."""
    needle = q.lower()
    return or_(
        Customer.email_normalized.contains(needle, autoescape=True),
        func.lower(_full_name).contains(needle, autoescape=True),
        func.lower(Customer.tags).contains(needle, autoescape=True),
        Customer.id.in_(select(CustomerTag.customer_id).where(
            CustomerTag.shop_id == shop_id,
            CustomerTag.tag_normalized.contains(needle, autoescape=True))),
        Customer.id.in_(select(CustomerNote.customer_id).where(
            CustomerNote.shop_id == shop_id,
            func.lower(CustomerNote.body).contains(needle, autoescape=True))),
    )


@dataclass(frozen=True)
class _Term:
    expression: Any
    descending: bool
    # None for a value that is never NULL: no NULLS clause, so the ORDER BY matches a plain
    # index (PostgreSQL does not infer that NULLS LAST is moot on a NOT NULL column).
    nulls_first: bool | None = None

    def clause(self, reverse: bool = False):
        descending = self.descending ^ reverse
        ordered = self.expression.desc() if descending else self.expression.asc()
        if self.nulls_first is None:
            return ordered
        return ordered.nulls_first() if self.nulls_first ^ reverse else ordered.nulls_last()


def ordering(sort: str) -> list[_Term]:
    """ORDER BY terms for a sort key ("-total_spent": descending), ending with the id so the
    order is total and a page boundary never moves.

    A missing last order counts as the oldest (no orders: last when newest first, first when
    oldest first), so one index order serves both directions; a missing name or email goes
    last either way (nobody looks for blanks at the top)."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "name":
        terms = [_Term(func.lower(_full_name), descending, nulls_first=False)]
    elif key == "email":
        terms = [_Term(Customer.email_normalized, descending, nulls_first=False)]
    elif key == "created_at":
        terms = [_Term(customer_since, descending)]
    elif key == "last_order_at":
        terms = [_Term(Customer.last_order_at, descending, nulls_first=not descending)]
    else:  # total_spent, orders_count: never NULL
        terms = [_Term(getattr(Customer, key), descending)]
    return [*terms, _Term(Customer.id, descending)]


def order_clauses(sort: str) -> list:
    return [term.clause() for term in ordering(sort)]


def count_customers(session: Session, shop_id: int, filters: CustomerFilters,
                    zone: ZoneInfo) -> int:
    return session.execute(select(func.count()).select_from(Customer)
                           .where(*conditions(shop_id, filters, zone))).scalar_one()


@dataclass
class CustomerPage:
    customers: list[Customer]
    total: int
    page: int
    per_page: int
    merchant_tags: dict[int, list[CustomerTag]] = field(default_factory=dict)

    @property
    def first_index(self) -> int:
        """1-based position of the page's first row (0 when the page is empty)."""
        return (self.page - 1) * self.per_page + 1 if self.customers else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.customers) - 1 if self.customers else 0

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _page_ids(session: Session, where: list[ColumnElement], sort: str, offset: int,
              limit: int, total: int) -> list[int]:
    """The ids of one page, in order. Past the middle of the list the order is walked from
    its other end, so no page sorts or skips more than half the matches."""
    terms = ordering(sort)
    reverse = offset + limit / 2 > total / 2
    if reverse:
        offset, limit = max(0, total - offset - limit), min(limit, total - offset)
    ids = list(session.execute(
        select(Customer.id).where(*where).order_by(*(t.clause(reverse) for t in terms))
        .offset(offset).limit(limit)).scalars())
    return ids[::-1] if reverse else ids


def list_customers(session: Session, shop_id: int, filters: CustomerFilters, zone: ZoneInfo,
                   *, page: int = 1, per_page: int = PAGE_SIZE) -> CustomerPage:
    where = conditions(shop_id, filters, zone)
    offset = (page - 1) * per_page
    if filters.q:
        # A search reads every profile anyway: count the matches in the same pass (a
        # window count) instead of scanning the store twice.
        found = session.execute(
            select(Customer.id, func.count().over()).where(*where)
            .order_by(*order_clauses(filters.sort)).offset(offset).limit(per_page)).all()
        total = found[0][1] if found else 0 if offset == 0 else session.execute(
            select(func.count()).select_from(Customer).where(*where)).scalar_one()
        ids = [row[0] for row in found]
    else:
        total = session.execute(select(func.count()).select_from(Customer).where(*where)
                                ).scalar_one()
        ids = (_page_ids(session, where, filters.sort, offset, per_page, total)
               if offset < total else [])
    if not ids:
        return CustomerPage([], total, page, per_page)
    rows = {c.id: c for c in session.execute(
        select(Customer).where(Customer.shop_id == shop_id, Customer.id.in_(ids))).scalars()}
    customers = [rows[i] for i in ids if i in rows]
    return CustomerPage(customers, total, page, per_page,
                        merchant_tags_of(session, shop_id, [c.id for c in customers]))


def merchant_tags_of(session: Session, shop_id: int,
                     customer_ids: list[int]) -> dict[int, list[CustomerTag]]:
    """Each customer's merchant tags, alphabetical (case-insensitive)."""
    found: dict[int, list[CustomerTag]] = {}
    if customer_ids:
        for tag in session.execute(
            select(CustomerTag).where(CustomerTag.shop_id == shop_id,
                                      CustomerTag.customer_id.in_(customer_ids))
            .order_by(CustomerTag.tag_normalized, CustomerTag.id)
        ).scalars():
            found.setdefault(tag.customer_id, []).append(tag)
    return found


def shop_tags(session: Session, shop_id: int, limit: int = 200) -> list[str]:
    """The store's merchant tags in use (for the filter's suggestions), alphabetical."""
    return list(session.execute(
        select(func.min(CustomerTag.tag)).where(CustomerTag.shop_id == shop_id)
        .group_by(CustomerTag.tag_normalized).order_by(CustomerTag.tag_normalized)
        .limit(limit)).scalars())


def export_select(shop_id: int, filters: CustomerFilters, zone: ZoneInfo) -> Select:
    """Every matching profile's exported columns, in the list's order, with its merchant
    tags ("VIP, Wholesale", alphabetical) and number of notes: per row, a lookup in each
    table's per-customer index (cheaper than a second query per chunk of rows)."""
    ordered_tags = (select(CustomerTag.tag).where(CustomerTag.customer_id == Customer.id)
                    .order_by(CustomerTag.tag_normalized).correlate(Customer).subquery())
    merchant_tags = select(func.aggregate_strings(ordered_tags.c.tag, ", ")).scalar_subquery()
    notes_count = (select(func.count()).select_from(CustomerNote)
                   .where(CustomerNote.customer_id == Customer.id).scalar_subquery())
    return (select(Customer.id, Customer.email, Customer.first_name, Customer.last_name,
                   Customer.phone, Customer.orders_count, Customer.total_spent,
                   Customer.first_order_at, Customer.last_order_at, Customer.email_marketing,
                   Customer.tags, customer_since.label("customer_since"),
                   merchant_tags.label("merchant_tags"), notes_count.label("notes_count"))
            .where(*conditions(shop_id, filters, zone))
            .order_by(*order_clauses(filters.sort)))
