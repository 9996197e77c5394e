"""Rows of a file → import items (a customer, or an order with its lines) and rejections.

Validation reads only the file and the settings fixed on the run (mapping, the shop's time
zone and currency), so the same file always gives the same items in the same order: a
resumed run's cursor (items applied so far) points at the same item it did before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from app.imports import values
from app.imports.reading import Row, Table
from app.imports.values import Invalid

# Longest file order id: the stored platform id is "import:" + it, in 64 characters.
ORDER_ID_MAX = 57


@dataclass(slots=True)
class Problem:
    line: int
    reason: str


@dataclass(slots=True)
class CustomerItem:
    line: int
    email: str
    email_n: str
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    tags: str | None = None
    city: str | None = None
    country_code: str | None = None
    created_at: datetime | None = None
    consent: str | None = None          # None: the line says nothing about consent
    consent_at: datetime | None = None


@dataclass(slots=True)
class LineItem:
    title: str | None
    quantity: int
    price: Decimal
    sku: str | None


@dataclass(slots=True)
class OrderItem:
    line: int
    order_id: str
    email: str
    email_n: str
    placed_at: datetime
    total: Decimal
    currency: str
    subtotal: Decimal | None = None
    tax: Decimal = Decimal("0")
    shipping: Decimal = Decimal("0")
    discount: Decimal = Decimal("0")
    financial_status: str | None = None
    cancelled_at: datetime | None = None
    refunded: Decimal = Decimal("0")
    lines: list[LineItem] = field(default_factory=list)

    @property
    def platform_id(self) -> str:
        return f"import:{self.order_id}"


@dataclass
class Validated:
    items: list[CustomerItem] | list[OrderItem]
    rejected: list[Problem]
    duplicates: list[Problem]
    notes: list[str]


class _Cells:
    """A row's cells by field name."""

    def __init__(self, table: Table, mapping: dict[str, str], row: Row) -> None:
        self._values: dict[str, str] = {}
        for position, column in enumerate(table.header):
            name = mapping.get(column)
            if name and position < len(row.cells):
                self._values[name] = row.cells[position].strip()

    def get(self, name: str) -> str:
        return self._values.get(name, "")


def _date_orders(table: Table, mapping: dict[str, str], names: tuple[str, ...]
                 ) -> dict[str, str]:
    orders = {}
    for name in names:
        columns = [i for i, c in enumerate(table.header) if mapping.get(c) == name]
        cells = [row.cells[i] for i in columns for row in table.rows if i < len(row.cells)]
        orders[name] = values.slash_order(cells)
    return orders


def _slash_note(orders: dict[str, str], table: Table) -> list[str]:
    return ([f"Dates written like 05/03/2024 are read day first ({name})"
             for name, order in orders.items() if order == "dmy"])


def customers(table: Table, mapping: dict[str, str], zone: ZoneInfo, *,
              now: datetime | None = None) -> Validated:
    orders = _date_orders(table, mapping, ("created_at", "consent_at"))
    has_consent_column = "accepts_marketing" in mapping.values()
    by_email: dict[str, CustomerItem] = {}
    rejected: list[Problem] = []
    duplicates: list[Problem] = []
    for row in table.rows:
        cells = _Cells(table, mapping, row)
        try:
            raw, email_n = values.email(cells.get("email"))
            item = CustomerItem(row.line, raw, email_n)
            for name in ("first_name", "last_name", "phone", "tags", "city"):
                value = cells.get(name)
                setattr(item, name, value[:255] if value else None)
            if item.phone:
                item.phone = item.phone[:64]
            if item.tags:
                item.tags = ", ".join(t.strip() for t in item.tags.split(",") if t.strip())
            if cells.get("country"):
                item.country_code = values.country(cells.get("country"))
            if cells.get("created_at"):
                item.created_at = values.when(cells.get("created_at"), zone,
                                              orders["created_at"], now=now)
            if cells.get("consent_at"):
                item.consent_at = values.when(cells.get("consent_at"), zone,
                                              orders["consent_at"], now=now)
            if has_consent_column:
                item.consent = values.consent(cells.get("accepts_marketing"))
            elif item.consent_at is not None:
                item.consent = values.SUBSCRIBED  # an opt-in time is an opt-in
        except Invalid as exc:
            rejected.append(Problem(row.line, str(exc)))
            continue
        earlier = by_email.pop(email_n, None)
        if earlier is not None:
            duplicates.append(Problem(earlier.line, f"same email as line {row.line}, which "
                                                    "is imported instead (the later line wins)"))
        by_email[email_n] = item
    items = sorted(by_email.values(), key=lambda i: i.line)
    duplicates.sort(key=lambda p: p.line)
    return Validated(items, rejected, duplicates, _slash_note(orders, table))


_ORDER_FIELDS = ("customer_email", "created_at", "total", "currency", "subtotal", "tax",
                 "shipping", "discount", "status", "refunded", "cancelled_at")


def orders(table: Table, mapping: dict[str, str], zone: ZoneInfo, shop_currency: str, *,
           now: datetime | None = None) -> Validated:
    """Rows with the same order id are one order (Shopify exports a row per line item): its
    fields are the first non-blank value among its rows; each row may add a line item. An
    order with any invalid row is rejected whole."""
    date_orders = _date_orders(table, mapping, ("created_at", "cancelled_at"))
    groups: dict[str, list[tuple[Row, _Cells]]] = {}
    rejected: list[Problem] = []
    for row in table.rows:
        cells = _Cells(table, mapping, row)
        order_id = cells.get("order_id")
        if not order_id:
            rejected.append(Problem(row.line, "no order id"))
        elif len(order_id) > ORDER_ID_MAX:
            rejected.append(Problem(row.line, f"order id is longer than {ORDER_ID_MAX} "
                                              "characters"))
        else:
            groups.setdefault(order_id, []).append((row, cells))
    items: list[OrderItem] = []
    for order_id, rows in groups.items():
        try:
            items.append(_order(order_id, rows, zone, shop_currency, date_orders, now))
        except _RowInvalid as exc:
            rejected.append(Problem(exc.line, str(exc)))
            rejected.extend(Problem(row.line, f"order {order_id} is rejected (line "
                                              f"{exc.line})")
                            for row, _ in rows if row.line != exc.line)
    rejected.sort(key=lambda p: p.line)
    return Validated(items, rejected, [], _slash_note(date_orders, table))


class _RowInvalid(Invalid):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def _order(order_id: str, rows: list[tuple[Row, _Cells]], zone: ZoneInfo, shop_currency: str,
           date_orders: dict[str, str], now: datetime | None) -> OrderItem:
    first: dict[str, tuple[int, str]] = {}
    for row, cells in rows:
        for name in _ORDER_FIELDS:
            if name not in first and cells.get(name):
                first[name] = (row.line, cells.get(name))

    def value(name: str, parse, required: str | None = None):
        if name not in first:
            if required:
                raise _RowInvalid(rows[0][0].line, required)
            return None
        line, text = first[name]
        try:
            return parse(text)
        except Invalid as exc:
            raise _RowInvalid(line, str(exc)) from exc

    email_raw, email_n = value("customer_email", values.email, "no customer email")
    placed_at = value("created_at", lambda t: values.when(t, zone, date_orders["created_at"],
                                                           now=now), "no order date")
    total = value("total", lambda t: values.money(t, what="total"), "no total")
    currency = value("currency", values.currency) or shop_currency
    if currency != shop_currency:
        raise _RowInvalid(first["currency"][0], f"currency {currency} is not the store's "
                                                f"({shop_currency}); convert it first")
    item = OrderItem(rows[0][0].line, order_id, email_raw, email_n, placed_at, total, currency)
    for name in ("subtotal", "tax", "shipping", "discount"):
        amount = value(name, lambda t, n=name: values.money(t, what=n))
        if amount is not None:
            setattr(item, name, amount)
    state = value("status", values.status)
    cancelled = False
    if state:
        item.financial_status, cancelled = state
    item.cancelled_at = value("cancelled_at", lambda t: values.when(
        t, zone, date_orders["cancelled_at"], now=now))
    if cancelled and item.cancelled_at is None:
        item.cancelled_at = placed_at
    refunded = value("refunded", lambda t: values.money(t, what="refunded amount"))
    if refunded is None and item.financial_status == "refunded":
        refunded = total
    if refunded is not None:
        if refunded > total:
            raise _RowInvalid(first["refunded"][0], f"refunded {refunded.normalize()} is more "
                                                    f"than the total {total.normalize()}")
        item.refunded = refunded
    for row, cells in rows:
        title, qty, price, sku = (cells.get(n) for n in ("line_title", "line_quantity",
                                                         "line_price", "line_sku"))
        if not (title or sku or price):
            continue
        try:
            item.lines.append(LineItem(
                title[:1000] if title else None, values.quantity(qty) if qty else 1,
                values.money(price, what="line price") if price else Decimal("0"),
                sku[:255] if sku else None))
        except Invalid as exc:
            raise _RowInvalid(row.line, str(exc)) from exc
    return item
