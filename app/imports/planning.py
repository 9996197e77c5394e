"""What an import would do: new / merged / unchanged / rejected, against the shop's profiles.

The same decisions serve the dry run (`plan`) and the apply (`app.imports.apply`), which asks
them again inside each chunk's transaction: what was true at the dry run may have changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from app.imports.mapping import unmapped
from app.imports.reading import DELIMITER_NAMES, Table
from app.imports.validate import CustomerItem, OrderItem, Validated
from app.profiles.models import NOT_SUBSCRIBED, Customer, Order
from app.profiles.writer import among_values

_C = Customer.__table__
_O = Order.__table__

# Profile columns an imported value may fill when empty: item attribute → column.
FILLABLE = {"first_name": "first_name", "last_name": "last_name", "phone": "phone",
            "city": "city", "country_code": "country_code", "tags": "tags",
            "created_at": "platform_created_at"}
# Rejections kept in a report (the counts are always complete).
REPORT_LIMIT = 10_000


@dataclass(slots=True)
class Profile:
    id: int
    deleted: bool
    email_marketing: str
    consent_at: datetime | None
    columns: dict[str, Any]


def existing_profiles(conn: Connection, shop_id: int, emails: set[str]) -> dict[str, Profile]:
    """The profile each email would merge into: a registered one first, then the oldest (the
    profile store's own choice for a shopper known by email)."""
    found: dict[str, tuple[tuple[bool, int], Profile]] = {}
    columns = [_C.c[c] for c in FILLABLE.values()]
    for among in among_values(conn, _C.c.email_normalized, emails):
        for row in conn.execute(
            select(_C.c.email_normalized, _C.c.id, _C.c.platform_customer_id,
                   _C.c.deleted_at, _C.c.email_marketing, _C.c.email_marketing_updated_at,
                   *columns).where(_C.c.shop_id == shop_id, among)
        ):
            rank = (row.platform_customer_id is None, row.id)
            known = found.get(row.email_normalized)
            if known is None or rank < known[0]:
                found[row.email_normalized] = (rank, Profile(
                    row.id, row.deleted_at is not None, row.email_marketing,
                    row.email_marketing_updated_at,
                    {c: getattr(row, c) for c in FILLABLE.values()}))
    return {email: profile for email, (_rank, profile) in found.items()}


def consent_change(item: CustomerItem, profile: Profile | None) -> str | None:
    """The consent the line sets, or None (see the package docstring for the rule)."""
    if item.consent is None:
        return None
    if profile is None:
        return item.consent
    if item.consent == profile.email_marketing:
        return None
    if profile.consent_at is None:
        allowed = profile.email_marketing == NOT_SUBSCRIBED or item.consent_at is not None
    else:
        allowed = item.consent_at is not None and item.consent_at > profile.consent_at
    return item.consent if allowed else None


def fills(item: CustomerItem, profile: Profile) -> dict[str, Any]:
    """The profile's empty columns the line fills."""
    return {column: getattr(item, attr) for attr, column in FILLABLE.items()
            if getattr(item, attr) is not None and profile.columns.get(column) is None}


def classify_customer(item: CustomerItem, profile: Profile | None) -> str:
    """"new", "merged", "unchanged", or a rejection reason."""
    if profile is None:
        return "new"
    if profile.deleted:
        return "the store deleted this customer: not re-created"
    if fills(item, profile) or consent_change(item, profile):
        return "merged"
    return "unchanged"


@dataclass(slots=True)
class StoredOrders:
    imported: dict[str, tuple]            # platform id "import:..." → stored values
    from_platform: dict[str, str]         # file order id → the platform order's name


def stored_orders(conn: Connection, shop_id: int, items: list[OrderItem], *,
                  names: bool = True) -> StoredOrders:
    """Orders already imported (by platform id), and (unless `names` is False) orders the
    store's platform already sent Sticky with the same id or name: importing those would
    count them twice."""
    imported: dict[str, tuple] = {}
    for among in among_values(conn, _O.c.platform_order_id, {i.platform_id for i in items}):
        for row in conn.execute(select(_O.c.platform_order_id, _O.c.total_price,
                                       _O.c.placed_at, _O.c.financial_status,
                                       _O.c.cancelled_at, _O.c.total_refunded)
                                .where(_O.c.shop_id == shop_id, among)):
            imported[row[0]] = tuple(row[1:])
    if not names:
        return StoredOrders(imported, {})
    by_name: dict[str, str] = {}
    for item in items:
        bare = item.order_id.lstrip("#")
        by_name[bare] = by_name[f"#{bare}"] = item.order_id
    from_platform: dict[str, str] = {}
    for ids, names_among in zip(among_values(conn, _O.c.platform_order_id, set(by_name)),
                                among_values(conn, _O.c.name, set(by_name)), strict=True):
        for pid, name in conn.execute(select(_O.c.platform_order_id, _O.c.name).where(
                _O.c.shop_id == shop_id, or_(ids, names_among),
                _O.c.platform_order_id.not_like("import:%"))):
            for key in (pid, name):
                if key in by_name:
                    from_platform[by_name[key]] = name or pid
    return StoredOrders(imported, from_platform)


def classify_order(item: OrderItem, stored: StoredOrders) -> str:
    if item.order_id in stored.from_platform:
        return (f"order {stored.from_platform[item.order_id]} is already in Sticky from the "
                "store itself: not imported twice")
    known = stored.imported.get(item.platform_id)
    if known is None:
        return "new"
    total, placed_at, status, cancelled_at, refunded = known
    same = (total == item.total and placed_at == item.placed_at
            and status == (item.financial_status or "paid")
            and cancelled_at == item.cancelled_at and refunded >= item.refunded)
    return "unchanged" if same else "merged"


def empty_counts() -> dict[str, int]:
    return {"new": 0, "merged": 0, "unchanged": 0, "rejected": 0, "duplicates": 0}


def plan(conn: Connection, shop_id: int, kind: str, table: Table, mapping: dict[str, str],
         validated: Validated) -> dict[str, Any]:
    """The dry-run report (JSON-ready): nothing is written."""
    counts = empty_counts()
    rejections = [{"line": p.line, "reason": p.reason} for p in validated.rejected]
    new_customers: set[str] = set()
    if kind == "customers":
        items: list[CustomerItem] = validated.items  # type: ignore[assignment]
        profiles = existing_profiles(conn, shop_id, {i.email_n for i in items})
        for item in items:
            outcome = classify_customer(item, profiles.get(item.email_n))
            _count(counts, rejections, item.line, outcome)
    else:
        orders: list[OrderItem] = validated.items  # type: ignore[assignment]
        stored = stored_orders(conn, shop_id, orders)
        profiles = existing_profiles(conn, shop_id, {i.email_n for i in orders})
        for order in orders:
            outcome = classify_order(order, stored)
            _count(counts, rejections, order.line, outcome)
            if outcome == "new" and order.email_n not in profiles:
                new_customers.add(order.email_n)
    counts["rejected"] = len(rejections)
    counts["duplicates"] = len(validated.duplicates)
    rejections.sort(key=lambda r: r["line"])
    return {
        "kind": kind,
        "header": table.header,
        "rows": len(table.rows),
        "items": len(validated.items),
        "encoding": table.encoding,
        "delimiter": DELIMITER_NAMES.get(table.delimiter, table.delimiter),
        "mapping": mapping,
        "ignored_columns": unmapped(table.header, mapping),
        "notes": table.notes + validated.notes,
        "counts": counts,
        "customers_created": len(new_customers),
        "rejections": rejections[:REPORT_LIMIT],
        "duplicates": [{"line": p.line, "reason": p.reason}
                       for p in validated.duplicates][:REPORT_LIMIT],
    }


def _count(counts: dict[str, int], rejections: list[dict], line: int, outcome: str) -> None:
    if outcome in counts:
        counts[outcome] += 1
    else:
        rejections.append({"line": line, "reason": outcome})
