"""CSV export of the customer list (`/admin/customers/export.csv`, `/api/customers/export.csv`).

Streamed: rows come from the database in chunks (`yield_per`: a server-side cursor on
PostgreSQL) and each chunk is written out as CSV before the next is read, so a 100,000-row
export holds one chunk in memory, never the whole list. The number of rows is counted first
and sent as `X-Total-Rows`, so the page can show "12,000 of 100,000 customers" while the
file arrives.

Names, notes and tags come from the internet: a cell that a spreadsheet would run as a
formula (starting with =, +, -, @, a tab or a carriage return) gets a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from app.customers.query import CustomerFilters, count_customers, export_select
from app.db import db, utcnow
from app.money import format_money
from app.shops.models import Shop

CHUNK_ROWS = 1000
COLUMNS = ("id", "email", "first_name", "last_name", "phone", "orders_count", "total_spent",
           "currency", "first_order_at", "last_order_at", "email_marketing", "platform_tags",
           "merchant_tags", "notes_count", "created_at")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheet programs read a UTF-8 file as UTF-8 (accents in names) only with this mark.
BYTE_ORDER_MARK = "\ufeff"


def guard_cell(value: Any) -> str:
    """A value as a CSV cell that no spreadsheet runs as a formula."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _iso(moment: datetime | None) -> str:
    return moment.isoformat().replace("+00:00", "Z") if moment else ""


def export_rows(session: Session, shop: Shop, filters: CustomerFilters, zone: ZoneInfo,
                *, chunk_rows: int | None = None) -> Iterator[list[list[Any]]]:
    """The export's rows (header excluded), one chunk of at most `chunk_rows` (default
    CHUNK_ROWS) at a time."""
    result = session.execute(export_select(shop.id, filters, zone),
                             execution_options={"yield_per": chunk_rows or CHUNK_ROWS})
    guard, currency = guard_cell, shop.currency
    for chunk in result.partitions():
        # Only text from the internet is guarded: ids, counts, amounts (never negative) and
        # ISO times are Sticky's own and cannot start like a formula.
        cells = [[row.id, guard(row.email), guard(row.first_name), guard(row.last_name),
                  guard(row.phone), row.orders_count, format_money(row.total_spent, currency),
                  currency, _iso(row.first_order_at), _iso(row.last_order_at),
                  row.email_marketing, guard(row.tags), guard(row.merchant_tags),
                  row.notes_count, _iso(row.customer_since)] for row in chunk]
        del chunk  # while the caller writes these, hold nothing else
        yield cells


def csv_text(chunks: Iterable[list[list[Any]]]) -> Iterator[str]:
    """The CSV file as pieces of text: the header, then one piece per chunk of rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield BYTE_ORDER_MARK + buffer.getvalue()
    for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        del rows  # not kept while the next chunk is read
        yield buffer.getvalue()


def file_name(shop: Shop) -> str:
    store = re.sub(r"[^A-Za-z0-9.-]+", "-", shop.domain).strip("-.") or "store"
    return f"customers-{store}-{utcnow():%Y-%m-%d}.csv"


def _stream(shop: Shop, filters: CustomerFilters, zone: ZoneInfo) -> Iterator[str]:
    # A session of its own, closed when the stream ends or the client goes away: the
    # request's session is closed when the view returns, before the first row is read.
    with db.new_session() as session:
        yield from csv_text(export_rows(session, shop, filters, zone))


def csv_response(session: Session, shop: Shop, filters: CustomerFilters,
                 zone: ZoneInfo) -> Response:
    """The streamed export as a download, with its row count in `X-Total-Rows`."""
    total = count_customers(session, shop.id, filters, zone)
    # End the request's (read-only) transaction now: the stream reads in a session of its
    # own, and on SQLite, where Sticky begins every transaction IMMEDIATE, an open one here
    # would lock the stream out until the request's teardown.
    session.commit()
    body = stream_with_context(_stream(shop, filters, zone))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name(shop)}"'
    response.headers["X-Total-Rows"] = str(total)
    response.headers["Cache-Control"] = "no-store"  # personal data
    response.headers["X-Accel-Buffering"] = "no"  # a proxy passes chunks on as they come
    return response
