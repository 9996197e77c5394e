"""Applying neutral records to the profile store.

`ProfileStore` is used for one batch inside one transaction: `apply()` each record (the
caller wraps each delivery in a savepoint), then `finish()` once, which brings refund totals
and per-customer figures in line with the stored rows and publishes domain events.

Rules that keep the mirror right whatever order deliveries come in:
- a record carrying an older platform `updated_at` than the stored one changes nothing;
- refunds are stored by the platform's order id, so one may arrive before its order;
- per-customer figures are always recomputed from the stored orders, never incremented;
- identity: platform customer id first, else normalized email; a guest profile is claimed
  (or merged) when a registered customer with the same email appears.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    and_,
    any_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from app import events
from app.bulk import bulk_insert, bulk_insert_new, execute_while
from app.db import insert_for, utcnow
from app.events import DomainEvent
from app.money import EXPONENTS, format_money
from app.profiles.models import (
    CART_CONVERTED,
    CART_OPEN,
    NOT_SUBSCRIBED,
    Cart,
    Customer,
    Order,
    OrderLine,
    Refund,
    TimelineEvent,
)
from connectors.records import (
    CartRecord,
    CustomerDeleted,
    CustomerRecord,
    MarketingConsentRecord,
    OrderRecord,
    Record,
    RefundRecord,
)

log = logging.getLogger(__name__)

PAID_STATES = {"paid", "partially_refunded", "refunded", "partially_paid"}


def normalize_email(email: str | None) -> str | None:
    if not email:
        return None
    email = email.strip().lower()
    return email if "@" in email else None


def counted_order(order=Order):
    """Orders that count towards a customer's figures: not cancelled, not voided."""
    return and_(
        order.cancelled_at.is_(None),
        or_(order.financial_status.is_(None), order.financial_status != "voided"),
    )


# Namespace for pg_advisory_xact_lock(namespace, shop_id): "writing this shop's profiles".
SHOP_LOCK_NAMESPACE = 7301


def lock_shop(session: Session, shop_id: int) -> None:
    """Serialize writers of one shop's profile store until the transaction ends.

    The store decides "insert or update" from what it read earlier in the transaction (and
    inserts in bulk on that basis), so two transactions must never write one shop at once.
    PostgreSQL: a transaction-scoped advisory lock (re-entrant). SQLite: BEGIN IMMEDIATE
    already serializes all writers.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, :shop)"),
                        {"ns": SHOP_LOCK_NAMESPACE, "shop": shop_id})


def _is_stale(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


@dataclass(slots=True)
class _Timeline:
    customer_id: int
    kind: str
    ref: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    # True when no stored row can have this key: it is about a profile or an order this
    # batch inserts (ids are never reused), so it goes in without a conflict check.
    fresh: bool = False


# Core tables: the store talks to the connection with statements built once per process, not
# through the ORM unit of work, because per-statement overhead is most of the cost of a batch.
_C = Customer.__table__
_O = Order.__table__
_L = OrderLine.__table__
_R = Refund.__table__
_K = Cart.__table__
_T = TimelineEvent.__table__

_UPDATE_CUSTOMER = update(_C).where(_C.c.id == bindparam("_id"))
_UPDATE_ORDER = update(_O).where(_O.c.id == bindparam("_id"))
_UPDATE_CART = update(_K).where(_K.c.id == bindparam("_id"))
_CONVERT = {
    # Two statements, one per index, rather than one OR that the planner cannot index.
    "checkout": and_(_K.c.kind == "checkout", _K.c.token == bindparam("_token")),
    "cart": _K.c.cart_token == bindparam("_token"),
}
_CONVERT_CARTS = {
    key: update(_K)
    .where(_K.c.shop_id == bindparam("_shop"), target, _K.c.status != CART_CONVERTED)
    .values(status=CART_CONVERTED, converted_order_id=bindparam("_order"),
            completed_at=func.coalesce(_K.c.completed_at,
                                       bindparam("_placed", type_=_K.c.completed_at.type)),
            customer_id=func.coalesce(_K.c.customer_id, bindparam("_customer")))
    for key, target in _CONVERT.items()
}
_FILL_MISSING: dict[frozenset[str], Any] = {}

# What the batch caches hold for a customer: (id, platform_updated_at, email_normalized,
# email_marketing_updated_at).
_CustomerRow = tuple[int, datetime | None, str | None, datetime | None]
# Profile columns an undated copy of a customer (embedded in an order) may fill when empty.
_FILLABLE = ("email", "email_normalized", "first_name", "last_name", "phone", "city",
             "country_code", "tags", "account_state", "platform_created_at")
# Every column a new profile row is inserted with (one shape, so inserts go as executemany).
_CUSTOMER_INSERT_KEYS = ("platform_customer_id", *_FILLABLE, "platform_updated_at",
                         "email_marketing", "email_marketing_updated_at")


def _fill_missing_statement(keys: frozenset[str]):
    """UPDATE that sets each column only where it is NULL (a copy without a timestamp).

    Rows with nothing missing are not matched, so PostgreSQL writes no new row version."""
    stmt = _FILL_MISSING.get(keys)
    if stmt is None:
        ordered = sorted(keys)
        stmt = _UPDATE_CUSTOMER.where(or_(*[_C.c[key].is_(None) for key in ordered])).values({
            key: func.coalesce(_C.c[key], bindparam(f"v_{key}", type_=_C.c[key].type))
            for key in ordered
        })
        _FILL_MISSING[keys] = stmt
    return stmt


class ProfileStore:
    """Applies one batch of records inside one transaction.

    Reads the batch needs are prefetched in a few queries (`prefetch`). Writes that nothing
    later in the batch reads (order updates, line items, refunds, cart conversions) are queued
    and sent as one executemany each by `flush()`; `finish()` flushes, then brings refund totals
    and customer figures in line and publishes the batch's domain events. Writes that later
    records do read (new customers, new orders, carts) go out at once.
    """

    def __init__(self, session: Session, shop_id: int, *, flush_each: bool = False,
                 defer_figures: bool = False, history_before: datetime | None = None,
                 while_writing: Callable[[], None] | None = None) -> None:
        """`flush_each=True` writes everything after every record, for callers that wrap each
        record in a savepoint; otherwise queued writes go out in `finish()`.

        `defer_figures=True` leaves per-customer figures to the caller, who must run
        `refresh_all_customer_figures` when done (a history backfill: a customer's figures
        would otherwise be recomputed on every page that holds one of their orders).

        `history_before`: facts that happened before this moment are the store's history,
        imported after the fact (a backfill passes the shop's install time). They go on the
        timeline but are not published as domain events: importing a store's past must not
        award points or send emails. On PostgreSQL the server writes the timeline rows of new
        history orders itself, from the order rows (`_HISTORY_TIMELINE`).

        `while_writing` is called (at most once per flush) while PostgreSQL inserts the
        batch's timeline, its biggest write: a history import reads its next page then."""
        self.session = session
        self.shop_id = shop_id
        self.flush_each = flush_each
        self.defer_figures = defer_figures
        self.history_before = history_before
        self.while_writing = while_writing
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._conn_ = None
        self._dirty_customers: set[int] = set()
        self._touched_orders: set[str] = set()
        self._pending_timeline: list[_Timeline] = []
        self._history_orders: list[int] = []  # new orders whose timeline the server derives
        self.published: list[DomainEvent] = []
        # Per-batch caches of what the database holds, kept in step with our own writes.
        # A key in a `*_known` set with no cache entry means "not in the database".
        self._customers: dict[str, _CustomerRow] = {}
        self._customers_known: set[str] = set()
        self._by_email: dict[str, int | None] = {}   # email → best profile (registered first)
        self._guests: dict[str, int | None] = {}     # email → oldest guest profile
        self._orders: dict[str, tuple[int, int | None, datetime | None]] = {}
        self._orders_known: set[str] = set()
        self._order_by_checkout: dict[str, int | None] = {}
        self._carts: dict[tuple[str, str], tuple[int, datetime | None, str, int | None]] = {}
        self._carts_known: set[tuple[str, str]] = set()
        self._newest_in_batch: dict[str, datetime] = {}
        # Queued writes. New rows get their ids up front (`_new_id`), so the rows that refer
        # to them can be queued too; `flush()` sends parents before children.
        self._id_pool: dict[str, list[int]] = {}
        self._pool_hint = 16
        self._sqlite_top: dict[str, int] = {}
        self._customer_inserts: dict[int, dict[str, Any]] = {}
        self._customer_updates: dict[int, dict[str, Any]] = {}
        self._order_inserts: dict[int, dict[str, Any]] = {}
        self._cart_inserts: dict[int, dict[str, Any]] = {}
        self._cart_updates: dict[int, dict[str, Any]] = {}
        self._order_updates: dict[int, dict[str, Any]] = {}
        self._lines: dict[int, list[dict[str, Any]]] = {}
        self._replace_lines: set[int] = set()
        self._refunds: dict[str, dict[str, Any]] = {}
        self._conversions: dict[str, list[dict[str, Any]]] = {"checkout": [], "cart": []}
        # customer id → fillable columns known to be empty (for profiles with no timestamp).
        self._missing: dict[int, frozenset[str]] = {}

    @property
    def _conn(self):
        if self._conn_ is None:
            lock_shop(self.session, self.shop_id)
            self._conn_ = self.session.connection()
        return self._conn_

    def _exec(self, statement, params=None):
        return self._conn.execute(statement, params)

    def _new_id(self, table) -> int:
        """An id for a row this batch will insert, drawn ahead from the table's sequence."""
        pool = self._id_pool.setdefault(table.name, [])
        if not pool:
            n = max(16, self._pool_hint)
            if self._postgres:
                pool.extend(self._exec(
                    text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                         "FROM generate_series(1, :n)"), {"t": table.name, "n": n}
                ).scalars())
            else:
                # SQLite has no sequences. The transaction holds the database's write lock
                # (BEGIN IMMEDIATE), so ids above the table's highest are ours to hand out.
                top = self._sqlite_top.get(table.name)
                if top is None:
                    top = self._exec(select(func.coalesce(func.max(table.c.id), 0))).scalar()
                pool.extend(range(top + 1, top + 1 + n))
                self._sqlite_top[table.name] = top + n
            pool.reverse()
        return pool.pop()

    # -- prefetch -------------------------------------------------------------------

    def prefetch(self, records: list[Record]) -> None:
        """Load what the batch will look up, a few queries per batch rather than per record."""
        self._pool_hint = len(records)
        order_ids: set[str] = set()
        customer_ids: set[str] = set()
        emails: set[str] = set()
        carts: set[tuple[str, str]] = set()
        checkout_tokens: set[str] = set()

        # Emails are looked up only for shoppers the platform id does not find (a new
        # profile may be a guest who registered) and for guests: in a history import nearly
        # every order's customer is already stored, and needs no email lookup at all.
        emails_if_new: dict[str, str] = {}

        def note_customer(customer: CustomerRecord | None, email: str | None) -> None:
            email_n = normalize_email(customer.email if customer else None) or \
                normalize_email(email)
            if customer is not None and customer.platform_id:
                customer_ids.add(customer.platform_id)
                if email_n:
                    emails_if_new[customer.platform_id] = email_n
            elif email_n:
                emails.add(email_n)

        for rec in records:
            if isinstance(rec, OrderRecord):
                order_ids.add(rec.platform_id)
                if rec.updated_at is not None:
                    newest = self._newest_in_batch.get(rec.platform_id)
                    if newest is None or rec.updated_at > newest:
                        self._newest_in_batch[rec.platform_id] = rec.updated_at
                note_customer(rec.customer, rec.email)
            elif isinstance(rec, CustomerRecord):
                note_customer(rec, None)
            elif isinstance(rec, CartRecord):
                note_customer(rec.customer, rec.email)
                carts.add((rec.kind, rec.token))
                if rec.kind == "checkout" and rec.cart_token:
                    carts.add(("cart", rec.cart_token))
                if rec.kind == "checkout":
                    checkout_tokens.add(rec.token)
        self._prefetch_orders(order_ids)
        self._prefetch_customers(customer_ids)
        emails.update(email_n for pid, email_n in emails_if_new.items()
                      if pid not in self._customers)
        self._prefetch_emails(emails)
        self._prefetch_carts(carts)
        self._prefetch_checkout_orders(checkout_tokens)

    def _prefetch_orders(self, order_ids: set[str]) -> None:
        for among in _among(self._conn, _O.c.platform_order_id, order_ids):
            for pid, oid, cid, updated in self._exec(
                select(_O.c.platform_order_id, _O.c.id, _O.c.customer_id,
                       _O.c.platform_updated_at)
                .where(_O.c.shop_id == self.shop_id, among)
            ):
                self._orders[pid] = (oid, cid, updated)
        self._orders_known |= order_ids

    def _select_customers(self, *conditions) -> None:
        """Cache the matching profiles: identity, version stamps and which columns are empty."""
        for pid, cid, updated, email_n, consent_at, *fillable in self._exec(
            select(_C.c.platform_customer_id, _C.c.id, _C.c.platform_updated_at,
                   _C.c.email_normalized, _C.c.email_marketing_updated_at,
                   *[_C.c[name] for name in _FILLABLE])
            .where(_C.c.shop_id == self.shop_id, *conditions)
        ):
            self._customers[pid] = (cid, updated, email_n, consent_at)
            self._missing[cid] = frozenset(
                name for name, value in zip(_FILLABLE, fillable, strict=True) if value is None
            )

    def _prefetch_customers(self, customer_ids: set[str]) -> None:
        for among in _among(self._conn, _C.c.platform_customer_id, customer_ids):
            self._select_customers(among)
        self._customers_known |= customer_ids

    def _prefetch_emails(self, emails: set[str]) -> None:
        found: dict[str, list[tuple[bool, int]]] = {}
        for among in _among(self._conn, _C.c.email_normalized, emails):
            for email_n, cid, pid in self._exec(
                select(_C.c.email_normalized, _C.c.id, _C.c.platform_customer_id)
                .where(_C.c.shop_id == self.shop_id, among)
            ):
                found.setdefault(email_n, []).append((pid is None, cid))
        for email_n in emails:
            rows = sorted(found.get(email_n, ()))
            self._by_email[email_n] = rows[0][1] if rows else None
            guests = [cid for is_guest, cid in rows if is_guest]
            self._guests[email_n] = guests[0] if guests else None

    def _prefetch_carts(self, carts: set[tuple[str, str]]) -> None:
        for kind in ("cart", "checkout"):
            tokens = {token for k, token in carts if k == kind}
            for among in _among(self._conn, _K.c.token, tokens):
                for cid, token, updated, status, customer_id in self._exec(
                    select(_K.c.id, _K.c.token, _K.c.platform_updated_at, _K.c.status,
                           _K.c.customer_id)
                    .where(_K.c.shop_id == self.shop_id, _K.c.kind == kind, among)
                ):
                    self._carts[(kind, token)] = (cid, updated, status, customer_id)
        self._carts_known |= carts

    def _prefetch_checkout_orders(self, tokens: set[str]) -> None:
        for among in _among(self._conn, _O.c.checkout_token, tokens):
            for token, oid in self._exec(
                select(_O.c.checkout_token, func.min(_O.c.id))
                .where(_O.c.shop_id == self.shop_id, among)
                .group_by(_O.c.checkout_token)
            ):
                self._order_by_checkout[token] = oid
        for token in tokens:
            self._order_by_checkout.setdefault(token, None)

    # -- entry points ---------------------------------------------------------------

    def apply(self, record: Record) -> None:
        if isinstance(record, OrderRecord):
            self._apply_order(record)
        elif isinstance(record, RefundRecord):
            self._insert_refund(record)
        elif isinstance(record, CustomerRecord):
            self.upsert_customer(record)
        elif isinstance(record, CartRecord):
            self._apply_cart(record)
        elif isinstance(record, MarketingConsentRecord):
            self._apply_consent(record)
        elif isinstance(record, CustomerDeleted):
            self._apply_customer_deleted(record)
        else:  # pragma: no cover - a connector returned something new
            raise TypeError(f"unknown record type {type(record).__name__}")
        if self.flush_each:
            self.flush()

    def flush(self) -> None:
        """Send queued writes and timeline rows."""
        self._flush_writes()
        history, self._history_orders = self._history_orders, []
        self._flush_timeline(while_writing=None if history else self.while_writing)
        if history:
            self._insert_history_timeline(history)

    def finish(self) -> list[DomainEvent]:
        """Bring derived figures in line with this batch's changes; publish its events."""
        self.flush()
        if self._touched_orders:
            self._refresh_refund_totals()
        if self._dirty_customers and not self.defer_figures:
            refresh_customer_figures(self.session, self.shop_id, self._dirty_customers)
        events.publish(self.session, self.published)
        published, self.published = self.published, []
        self._dirty_customers.clear()
        self._touched_orders.clear()
        return published

    def discard_pending(self) -> None:
        """After a savepoint rollback: drop unwritten rows and every cached read."""
        self._pending_timeline.clear()
        self._history_orders.clear()
        self._customer_inserts.clear()
        self._customer_updates.clear()
        self._order_inserts.clear()
        self._order_updates.clear()
        self._cart_inserts.clear()
        self._cart_updates.clear()
        self._lines.clear()
        self._replace_lines.clear()
        self._refunds.clear()
        for queued in self._conversions.values():
            queued.clear()
        self._forget_customers()
        self._orders.clear()
        self._orders_known.clear()
        self._order_by_checkout.clear()
        self._carts.clear()
        self._carts_known.clear()

    def _forget_customers(self) -> None:
        # Identity changed under the cache (a guest claimed or merged): read afresh.
        self._customers.clear()
        self._customers_known.clear()
        self._missing.clear()
        self._by_email.clear()
        self._guests.clear()

    def _forget_email(self, *emails: str | None) -> None:
        for email_n in emails:
            if email_n:
                self._by_email.pop(email_n, None)
                self._guests.pop(email_n, None)

    # -- customers ------------------------------------------------------------------

    def _customer_row(self, platform_id: str) -> _CustomerRow | None:
        if platform_id not in self._customers and platform_id not in self._customers_known:
            self._flush_customer_inserts()
            self._select_customers(_C.c.platform_customer_id == platform_id)
        return self._customers.get(platform_id)

    def upsert_customer(self, rec: CustomerRecord) -> int | None:
        if not rec.platform_id:
            return self.customer_for_email(rec.email, rec)
        email_n = normalize_email(rec.email)
        row = self._customer_row(rec.platform_id)
        if row is None:
            return self._insert_customer(rec, email_n)

        customer_id, stored_updated_at, stored_email, stored_consent_at = row
        if _is_stale(rec.updated_at, stored_updated_at):
            return customer_id
        if rec.updated_at is None and stored_updated_at is not None:
            # An undated copy (embedded in an order) of a profile the customers/* topics keep:
            # it identifies the shopper and has nothing newer to say.
            return customer_id
        values = self._customer_values(rec)
        if values.get("email_marketing") and _is_stale(
            rec.email_marketing_updated_at, stored_consent_at
        ):
            values.pop("email_marketing", None)
            values.pop("email_marketing_updated_at", None)
        if not values:
            return customer_id
        if rec.updated_at is None:
            # Without a timestamp (a copy embedded in an order) only fill what is missing.
            missing = self._missing.get(customer_id)
            if missing is not None:  # known for every cached profile: skip what is filled
                values = {k: v for k, v in values.items() if k in missing}
                if not values:
                    return customer_id
                self._missing[customer_id] = missing - values.keys()
            queued = self._customer_inserts.get(customer_id)
            if queued is not None:
                queued.update({k: v for k, v in values.items() if queued.get(k) is None})
            else:
                self._exec(_fill_missing_statement(frozenset(values)),
                           {"_id": customer_id, **{f"v_{k}": v for k, v in values.items()}})
            new_email = None if stored_email else email_n
            values = {"email_normalized": new_email} if new_email else {}
        else:
            new_email = values.get("email_normalized")
            if new_email and new_email != stored_email:
                self._flush_customer_inserts()
                self._exec(_UPDATE_CUSTOMER, {"_id": customer_id, **values})
            else:
                # Nothing later in the batch reads these columns: send them with the others.
                self._customer_updates.setdefault(customer_id, {"_id": customer_id}).update(values)
            if customer_id in self._missing:
                self._missing[customer_id] -= values.keys()
        self._customers[rec.platform_id] = (
            customer_id,
            values.get("platform_updated_at", stored_updated_at),
            values.get("email_normalized", stored_email),
            values.get("email_marketing_updated_at", stored_consent_at),
        )
        if new_email and new_email != stored_email:
            self._forget_email(stored_email, new_email)
            guest_id = self._guest_id(new_email)
            if guest_id is not None and guest_id != customer_id:
                self._merge(guest_id, into=customer_id)
        return customer_id

    def _insert_customer(self, rec: CustomerRecord, email_n: str | None) -> int:
        guest_id = self._guest_id(email_n)
        if guest_id is not None:
            # A guest known from orders or checkouts has registered: same person.
            self._flush_writes()
            self._exec(_UPDATE_CUSTOMER, {"_id": guest_id, "platform_customer_id": rec.platform_id,
                                          **self._customer_values(rec)})
            self._forget_customers()
            self._timeline(guest_id, events.CUSTOMER_CREATED, rec.platform_id,
                           rec.created_at or utcnow())
            return guest_id
        values = self._customer_values(rec)
        values.setdefault("email_marketing", NOT_SUBSCRIBED)
        values["platform_customer_id"] = rec.platform_id
        now = utcnow()
        customer_id = self._queue_customer(values, now)
        self._customers[rec.platform_id] = (customer_id, rec.updated_at, email_n,
                                            values.get("email_marketing_updated_at"))
        if email_n and email_n in self._by_email and self._by_email[email_n] is None:
            self._by_email[email_n] = customer_id  # no guest has this email (checked above)
        elif email_n:
            self._by_email.pop(email_n, None)
        self._timeline(customer_id, events.CUSTOMER_CREATED, rec.platform_id,
                       rec.created_at or now, fresh=True)
        return customer_id

    def _queue_customer(self, values: dict[str, Any], now: datetime) -> int:
        customer_id = self._new_id(_C)
        row = {key: values.get(key) for key in _CUSTOMER_INSERT_KEYS}
        row.update(id=customer_id, shop_id=self.shop_id, created_at=now, updated_at=now)
        self._customer_inserts[customer_id] = row
        self._missing[customer_id] = frozenset(k for k in _FILLABLE if row[k] is None)
        return customer_id

    def _customer_values(self, rec: CustomerRecord) -> dict[str, Any]:
        values: dict[str, Any] = {
            "email": rec.email,
            "email_normalized": normalize_email(rec.email),
            "first_name": rec.first_name,
            "last_name": rec.last_name,
            "phone": rec.phone,
            "city": rec.city,
            "country_code": rec.country_code,
            "tags": rec.tags,
            "account_state": rec.account_state,
            "platform_created_at": rec.created_at,
            "platform_updated_at": rec.updated_at,
        }
        if rec.email_marketing is not None:
            values["email_marketing"] = rec.email_marketing
            values["email_marketing_updated_at"] = rec.email_marketing_updated_at
        return {k: v for k, v in values.items() if v is not None}

    def _guest_id(self, email_n: str | None) -> int | None:
        if not email_n:
            return None
        if email_n not in self._guests:
            self._flush_customer_inserts()
            self._guests[email_n] = self._exec(
                select(_C.c.id).where(
                    _C.c.shop_id == self.shop_id,
                    _C.c.email_normalized == email_n,
                    _C.c.platform_customer_id.is_(None),
                ).order_by(_C.c.id).limit(1)
            ).scalar()
        return self._guests[email_n]

    def customer_for_email(self, email: str | None, rec: CustomerRecord | None = None,
                           *, create: bool = True,
                           seen_at: datetime | None = None) -> int | None:
        """The profile for a shopper known only by email (guest order, checkout).

        A new guest profile's `customer_created` fact is dated when the shopper was first
        seen (`seen_at`: the order's or checkout's time), so an imported past stays history.
        """
        email_n = normalize_email(email)
        if not email_n:
            return None
        if email_n not in self._by_email:
            self._flush_customer_inserts()
            self._by_email[email_n] = self._exec(
                select(_C.c.id).where(_C.c.shop_id == self.shop_id,
                                      _C.c.email_normalized == email_n)
                .order_by(_C.c.platform_customer_id.is_(None), _C.c.id).limit(1)
            ).scalar()
        existing = self._by_email[email_n]
        if existing is not None or not create:
            return existing
        values = self._customer_values(rec) if rec else {}
        values.update(email=email.strip() if email else None, email_normalized=email_n)
        values.setdefault("email_marketing", NOT_SUBSCRIBED)
        now = utcnow()
        customer_id = self._queue_customer(values, now)
        self._by_email[email_n] = customer_id
        self._guests[email_n] = customer_id
        first_seen = seen_at or (rec.created_at if rec else None) or now
        self._timeline(customer_id, events.CUSTOMER_CREATED, f"guest:{email_n}", first_seen,
                       fresh=True)
        return customer_id

    def _merge(self, guest_id: int, *, into: int) -> None:
        """Move a guest's orders, carts and timeline onto a registered profile."""
        self.flush()  # queued rows may still name the guest
        s = self.session
        s.execute(update(Order).where(Order.customer_id == guest_id).values(customer_id=into))
        s.execute(update(Cart).where(Cart.customer_id == guest_id).values(customer_id=into))
        # Timeline facts the registered profile already has would collide: drop the guest's.
        theirs = aliased(TimelineEvent)
        s.execute(delete(TimelineEvent).where(
            TimelineEvent.customer_id == guest_id,
            select(theirs.id).where(theirs.customer_id == into,
                                    theirs.kind == TimelineEvent.kind,
                                    theirs.ref == TimelineEvent.ref).exists(),
        ))
        s.execute(update(TimelineEvent).where(TimelineEvent.customer_id == guest_id)
                  .values(customer_id=into))
        self.published = events.reassign_customer(s, self.shop_id, guest_id, into, self.published)
        s.execute(delete(Customer).where(Customer.id == guest_id))
        self._forget_customers()
        self._orders.clear()
        self._orders_known.clear()
        self._carts.clear()
        self._carts_known.clear()
        self._dirty_customers.discard(guest_id)
        self._dirty_customers.add(into)
        log.info("profiles.guest_merged", extra={"shop_id": self.shop_id, "guest_id": guest_id,
                                                  "customer_id": into})

    def _apply_customer_deleted(self, rec: CustomerDeleted) -> None:
        self._flush_customer_inserts()
        self._exec(
            update(_C).where(_C.c.shop_id == self.shop_id,
                             _C.c.platform_customer_id == rec.platform_id,
                             _C.c.deleted_at.is_(None))
            .values(deleted_at=utcnow())
        )

    def _apply_consent(self, rec: MarketingConsentRecord) -> None:
        if rec.customer_platform_id:
            customer_id = self.upsert_customer(
                CustomerRecord(platform_id=rec.customer_platform_id, email=rec.email)
            )
        else:
            customer_id = self.customer_for_email(rec.email)
        if customer_id is None:
            return
        self.flush()  # queued profile updates may carry consent too
        stored_at = self._exec(
            select(_C.c.email_marketing_updated_at).where(_C.c.id == customer_id)
        ).scalar()
        if _is_stale(rec.updated_at, stored_at):
            return
        self._exec(_UPDATE_CUSTOMER, {
            "_id": customer_id, "email_marketing": rec.email_marketing,
            "email_marketing_updated_at": rec.updated_at or utcnow(),
        })
        self._customers.clear()
        self._customers_known.clear()
        when = rec.updated_at or utcnow()
        self._timeline(customer_id, events.EMAIL_MARKETING_CHANGED,
                       f"{rec.email_marketing}:{when.isoformat()}", when,
                       {"email_marketing": rec.email_marketing})

    # -- orders ---------------------------------------------------------------------

    def _order_row(self, platform_id: str) -> tuple[int, int | None, datetime | None] | None:
        if platform_id in self._orders_known:
            return self._orders.get(platform_id)
        found = self._exec(
            select(_O.c.id, _O.c.customer_id, _O.c.platform_updated_at)
            .where(_O.c.shop_id == self.shop_id, _O.c.platform_order_id == platform_id)
        ).first()
        return None if found is None else (found[0], found[1], found[2])

    def _apply_order(self, rec: OrderRecord) -> None:
        existing = self._order_row(rec.platform_id)
        # Refunds never change once made: keep them even from a stale order payload.
        for refund in rec.refunds:
            self._insert_refund(refund)
        if existing is not None and _is_stale(rec.updated_at, existing[2]):
            return
        if _is_stale(rec.updated_at, self._newest_in_batch.get(rec.platform_id)):
            return  # a newer version of this order comes later in the same batch

        if rec.customer is not None:
            customer_id = self.upsert_customer(rec.customer)
        else:
            customer_id = self.customer_for_email(rec.email, seen_at=rec.placed_at)

        values: dict[str, Any] = {
            "customer_id": customer_id,
            "name": rec.name,
            "email": rec.email,
            "currency": rec.currency,
            "presentment_currency": rec.presentment_currency,
            "subtotal": rec.subtotal,
            "total_price": rec.total_price,
            "total_tax": rec.total_tax,
            "total_discounts": rec.total_discounts,
            "total_shipping": rec.total_shipping,
            "financial_status": rec.financial_status,
            "fulfillment_status": rec.fulfillment_status,
            "discount_codes": rec.discount_codes,
            "source_name": rec.source_name,
            "landing_site": rec.landing_site,
            "checkout_token": rec.checkout_token,
            "cart_token": rec.cart_token,
            "test": rec.test,
            "placed_at": rec.placed_at,
            "cancelled_at": rec.cancelled_at,
            "closed_at": rec.closed_at,
            "platform_updated_at": rec.updated_at,
            "updated_at": utcnow(),
        }
        if existing is None:
            order_id = self._new_id(_O)
            self._order_inserts[order_id] = {
                "id": order_id, "shop_id": self.shop_id, "platform_order_id": rec.platform_id,
                "created_at": values["updated_at"], "total_refunded": Decimal("0"), **values,
            }
            if rec.checkout_token and self._order_by_checkout.get(rec.checkout_token) is None:
                self._order_by_checkout[rec.checkout_token] = order_id
            # Later versions find their carts already converted.
            self._queue_conversions(rec, order_id, customer_id)
        else:
            order_id = existing[0]
            if order_id in self._order_inserts:  # a second version of an order new this batch
                self._order_inserts[order_id].update(values)
            else:
                self._order_updates[order_id] = {"_id": order_id, **values}
                self._replace_lines.add(order_id)
            if existing[1] is not None:
                self._dirty_customers.add(existing[1])
        self._orders[rec.platform_id] = (order_id, customer_id, rec.updated_at)
        self._orders_known.add(rec.platform_id)
        self._lines[order_id] = [
            {
                "shop_id": self.shop_id, "order_id": order_id,
                "platform_line_id": line.platform_id, "product_id": line.product_id,
                "variant_id": line.variant_id, "sku": line.sku, "title": line.title,
                "variant_title": line.variant_title, "quantity": line.quantity,
                "price": line.price, "total_discount": line.total_discount,
            }
            for line in rec.lines
        ]
        self._touched_orders.add(rec.platform_id)
        if customer_id is None:
            return
        self._dirty_customers.add(customer_id)
        # An order this batch inserts has no stored timeline yet (orders are never deleted).
        fresh = order_id in self._order_inserts
        if fresh and self._postgres and self._is_history(rec):
            self._history_orders.append(order_id)
            return
        # Same values as the server writes for history orders (`_HISTORY_TIMELINE`).
        data = {"order_id": order_id, "name": rec.name,
                "total_price": format_money(rec.total_price, rec.currency),
                "currency": rec.currency}
        self._timeline(customer_id, events.ORDER_PLACED, rec.platform_id, rec.placed_at, data,
                       fresh=fresh)
        if rec.financial_status in PAID_STATES:
            self._timeline(customer_id, events.ORDER_PAID, rec.platform_id,
                           rec.updated_at or rec.placed_at, data, fresh=fresh)
        if rec.cancelled_at:
            self._timeline(customer_id, events.ORDER_CANCELLED, rec.platform_id,
                           rec.cancelled_at, data, fresh=fresh)
        if rec.fulfillment_status == "fulfilled":
            self._timeline(customer_id, events.ORDER_FULFILLED, rec.platform_id,
                           rec.updated_at or rec.placed_at, data, fresh=fresh)

    def _is_history(self, rec: OrderRecord) -> bool:
        cutoff = self.history_before
        return cutoff is not None and all(
            moment is None or moment < cutoff
            for moment in (rec.placed_at, rec.updated_at, rec.cancelled_at))

    def _insert_refund(self, rec: RefundRecord) -> None:
        row = self._refunds.setdefault(rec.platform_id, {
            "shop_id": self.shop_id, "platform_refund_id": rec.platform_id,
            "platform_order_id": rec.order_platform_id, "amount": rec.amount,
            "note": rec.note, "refunded_at": rec.refunded_at, "created_at": utcnow(),
        })
        # What a refund returned only grows (a pending transaction succeeds later), so the
        # largest amount seen wins, whatever order the versions arrive in (here and in the
        # refunds upsert of `_flush_writes`).
        row["amount"] = max(row["amount"], rec.amount)
        self._touched_orders.add(rec.order_platform_id)

    def _queue_conversions(self, rec: OrderRecord, order_id: int,
                           customer_id: int | None) -> None:
        for key, token in (("checkout", rec.checkout_token), ("cart", rec.cart_token)):
            if token:
                self._conversions[key].append({"_shop": self.shop_id, "_token": token,
                                               "_order": order_id, "_placed": rec.placed_at,
                                               "_customer": customer_id})

    def _flush_customer_inserts(self) -> None:
        if self._customer_inserts:
            bulk_insert(self._conn, _C, list(self._customer_inserts.values()))
            self._customer_inserts.clear()

    def _flush_writes(self) -> None:
        """Send queued rows, parents before the rows that refer to them."""
        conn = self._conn
        self._flush_customer_inserts()
        if self._customer_updates:
            for rows in _by_shape(self._customer_updates.values()):
                conn.execute(_UPDATE_CUSTOMER, rows)
            self._customer_updates.clear()
        if self._order_inserts:
            bulk_insert(conn, _O, list(self._order_inserts.values()))
            self._order_inserts.clear()
        if self._order_updates:
            conn.execute(_UPDATE_ORDER, list(self._order_updates.values()))
            self._order_updates.clear()
        if self._replace_lines:
            for among in _among(conn, _L.c.order_id, self._replace_lines):
                conn.execute(delete(_L).where(among))
            self._replace_lines.clear()
        if self._lines:
            rows = [row for lines in self._lines.values() for row in lines]
            bulk_insert(conn, _L, rows)
            self._lines.clear()
        if self._refunds:
            upsert = insert_for(self.session, _R)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["shop_id", "platform_refund_id"],
                    set_={"amount": upsert.excluded.amount},
                    where=upsert.excluded.amount > _R.c.amount),
                list(self._refunds.values()),
            )
            self._refunds.clear()
        if self._cart_inserts:
            bulk_insert(conn, _K, list(self._cart_inserts.values()))
            self._cart_inserts.clear()
        if self._cart_updates:
            for rows in _by_shape(self._cart_updates.values()):
                conn.execute(_UPDATE_CART, rows)
            self._cart_updates.clear()
        # Sent after the batch's carts, so a cart that arrives after its order converts too.
        for key, queued in self._conversions.items():
            if queued:
                conn.execute(_CONVERT_CARTS[key], queued)
                queued.clear()

    def _refresh_refund_totals(self) -> None:
        """For the batch's orders that have refunds: `total_refunded`, and a timeline row per
        refund (refunds may have arrived before their order, in this batch or earlier)."""
        refunded: set[str] = set()
        for among in _among(self._conn, _R.c.platform_order_id, self._touched_orders):
            refunded.update(self._exec(
                select(_R.c.platform_order_id).distinct()
                .where(_R.c.shop_id == self.shop_id, among)
            ).scalars())
        if not refunded:
            return  # only orders with refunds can differ from the zero a new order starts with
        total = (
            select(func.coalesce(func.sum(_R.c.amount), 0))
            .where(_R.c.shop_id == self.shop_id,
                   _R.c.platform_order_id == _O.c.platform_order_id)
            .scalar_subquery()
        )
        # An order's refunds never exceed what was paid for it (an over-refund, a refund
        # counted twice by the platform, a bad payload), so no figure built on
        # `total_price - total_refunded` can go below zero.
        least, greatest = (func.least, func.greatest) if self._postgres else (func.min, func.max)
        total = least(greatest(total, 0), _O.c.total_price)
        for among in _among(self._conn, _O.c.platform_order_id, refunded):
            self._exec(update(_O).where(_O.c.shop_id == self.shop_id, among)
                       .values(total_refunded=total))
            rows = self._exec(
                select(_O.c.customer_id, _R.c.platform_refund_id, _R.c.amount,
                       _R.c.refunded_at, _O.c.id, _O.c.name, _O.c.currency)
                .join(_R, and_(_R.c.shop_id == _O.c.shop_id,
                               _R.c.platform_order_id == _O.c.platform_order_id))
                .where(_O.c.shop_id == self.shop_id, among, _O.c.customer_id.is_not(None))
            ).all()
            for customer_id, refund_id, amount, refunded_at, order_id, name, currency in rows:
                self._dirty_customers.add(customer_id)
                self._timeline(customer_id, events.REFUND_CREATED, refund_id, refunded_at,
                               {"order_id": order_id, "name": name, "amount": str(amount),
                                "currency": currency})
        self._flush_timeline()

    # -- carts ----------------------------------------------------------------------

    def _cart_row(self, kind: str, token: str):
        key = (kind, token)
        if key in self._carts_known:
            return self._carts.get(key)
        found = self._exec(
            select(_K.c.id, _K.c.platform_updated_at, _K.c.status, _K.c.customer_id)
            .where(_K.c.shop_id == self.shop_id, _K.c.kind == kind, _K.c.token == token)
        ).first()
        return None if found is None else (found[0], found[1], found[2], found[3])

    def _order_for_checkout(self, token: str) -> int | None:
        if token not in self._order_by_checkout:
            self._order_by_checkout[token] = self._exec(
                select(_O.c.id).where(_O.c.shop_id == self.shop_id,
                                      _O.c.checkout_token == token)
                .order_by(_O.c.id).limit(1)
            ).scalar()
        return self._order_by_checkout[token]

    def _apply_cart(self, rec: CartRecord) -> None:
        existing = self._cart_row(rec.kind, rec.token)
        if existing is not None and _is_stale(rec.updated_at, existing[1]):
            return
        if rec.customer is not None:
            customer_id = self.upsert_customer(rec.customer)
        else:
            customer_id = self.customer_for_email(rec.email, seen_at=rec.created_at)
        if customer_id is None and existing is not None:
            customer_id = existing[3]
        status = CART_OPEN
        converted_order_id = None
        if rec.kind == "checkout":
            converted_order_id = self._order_for_checkout(rec.token)
        if rec.completed_at or converted_order_id or (
            existing is not None and existing[2] == CART_CONVERTED
        ):
            status = CART_CONVERTED
        values: dict[str, Any] = {
            "customer_id": customer_id,
            "cart_token": rec.cart_token,
            "email": rec.email,
            "currency": rec.currency,
            "total_price": rec.total_price,
            "line_items": rec.line_items,
            "recovery_url": rec.recovery_url,
            "status": status,
            "platform_created_at": rec.created_at,
            "platform_updated_at": rec.updated_at,
            "completed_at": rec.completed_at,
            "abandoned_at": None,
        }
        if converted_order_id is not None:
            values["converted_order_id"] = converted_order_id
        if existing is None:
            cart_id = self._new_id(_K)
            self._cart_inserts[cart_id] = {
                "id": cart_id, "shop_id": self.shop_id, "kind": rec.kind, "token": rec.token,
                "created_at": utcnow(), "converted_order_id": None, **values,
            }
        else:
            cart_id = existing[0]
            queued = self._cart_inserts.get(cart_id)
            if queued is not None:
                queued.update(values)
            else:
                self._cart_updates.setdefault(cart_id, {"_id": cart_id}).update(values)
        self._carts[(rec.kind, rec.token)] = (cart_id, rec.updated_at, status, customer_id)
        self._carts_known.add((rec.kind, rec.token))
        if rec.kind == "checkout" and rec.cart_token and customer_id is not None:
            self._name_storefront_cart(rec.cart_token, customer_id, rec.email)
        if rec.kind == "checkout" and customer_id is not None:
            self._timeline(customer_id, events.CHECKOUT_STARTED, rec.token,
                           rec.created_at or utcnow(),
                           {"total_price": str(rec.total_price), "currency": rec.currency})

    def _name_storefront_cart(self, token: str, customer_id: int, email: str | None) -> None:
        """The storefront cart behind a checkout now has a known shopper (if it had none)."""
        key = ("cart", token)
        if key not in self._carts_known:
            self._exec(update(_K).where(
                _K.c.shop_id == self.shop_id, _K.c.kind == "cart", _K.c.token == token,
                _K.c.customer_id.is_(None),
            ).values(customer_id=customer_id, email=email))
            return
        row = self._carts.get(key)
        if row is None or row[3] is not None:
            return  # no such cart, or it already names its shopper
        cart_id = row[0]
        queued = self._cart_inserts.get(cart_id)
        if queued is None:
            queued = self._cart_updates.setdefault(cart_id, {"_id": cart_id})
        queued.update(customer_id=customer_id, email=email)
        self._carts[key] = (cart_id, row[1], row[2], customer_id)

    # -- timeline -------------------------------------------------------------------

    def _timeline(self, customer_id: int, kind: str, ref: str, occurred_at: datetime,
                  data: dict[str, Any] | None = None, *, fresh: bool = False) -> None:
        self._pending_timeline.append(
            _Timeline(customer_id, kind, ref, occurred_at, data or {}, fresh))

    def _flush_timeline(self, while_writing: Callable[[], None] | None = None) -> None:
        """Insert pending timeline rows; the ones that are new become domain events.

        Rows that may already be stored go through INSERT ... ON CONFLICT DO NOTHING, which
        says which ones were new. Fresh rows (see `_Timeline.fresh`) cannot collide and are
        simply inserted (COPY for many): most of a history import's timeline. Should one
        collide after all, the fresh rows take the checked path instead.
        """
        if not self._pending_timeline:
            return
        pending, self._pending_timeline = self._pending_timeline, []
        fresh: dict[tuple[int, str, str], dict[str, Any]] = {}
        checked: dict[tuple[int, str, str], dict[str, Any]] = {}
        for t in pending:
            key = (t.customer_id, t.kind, t.ref)
            if key not in fresh and key not in checked:  # the first version of a fact wins
                (fresh if t.fresh else checked)[key] = {
                    "shop_id": self.shop_id, "customer_id": t.customer_id, "kind": t.kind,
                    "ref": t.ref, "occurred_at": t.occurred_at, "data": t.data}
        new: set[tuple[int, str, str]] = set()
        if fresh and self._insert_fresh_timeline(list(fresh.values()), while_writing):
            new.update(fresh)
        else:
            checked.update(fresh)
        if checked:
            new.update(bulk_insert_new(
                self._conn, _T, list(checked.values()),
                unique=("customer_id", "kind", "ref"), returning=("customer_id", "kind", "ref"),
                small_insert=insert_for(self.session, _T)
                .on_conflict_do_nothing(index_elements=["customer_id", "kind", "ref"])
                .returning(_T.c.customer_id, _T.c.kind, _T.c.ref),
            ))
        history = self.history_before
        for t in pending:
            key = (t.customer_id, t.kind, t.ref)
            if key in new:
                new.discard(key)  # publish each fact once, however often it was queued
                if history is None or t.occurred_at >= history:
                    self.published.append(DomainEvent(self.shop_id, t.customer_id, t.kind,
                                                      t.ref, t.occurred_at, t.data))

    def _insert_fresh_timeline(self, rows: list[dict[str, Any]],
                               while_writing: Callable[[], None] | None) -> bool:
        """Insert rows without a conflict check; False (nothing inserted) on a collision."""
        try:
            with self._conn.begin_nested():
                bulk_insert(self._conn, _T, rows, while_server_works=while_writing)
        except IntegrityError:
            log.warning("profiles.timeline_fresh_collision",
                        extra={"shop_id": self.shop_id, "rows": len(rows)})
            return False
        return True

    def _insert_history_timeline(self, order_ids: list[int]) -> None:
        """The timeline of new history orders, written by PostgreSQL from the order rows.

        A history import's biggest write, and the only one Python need not format: the rows
        are the orders' own columns. The next page is read meanwhile (`while_writing`). Like
        fresh rows they cannot collide; should one, the insert is redone skipping collisions.
        """
        # The id range lets PostgreSQL use the primary key even while its statistics still
        # describe a much smaller table (the rows are this transaction's newest).
        params = {"shop": self.shop_id, "ids": order_ids, "low": min(order_ids),
                  "high": max(order_ids), "paid_states": sorted(PAID_STATES),
                  **_ORDER_KINDS}
        try:
            with self._conn.begin_nested():
                execute_while(self._conn, _HISTORY_TIMELINE, params, self.while_writing)
        except IntegrityError:
            log.warning("profiles.timeline_fresh_collision",
                        extra={"shop_id": self.shop_id, "orders": len(order_ids)})
            execute_while(self._conn, _HISTORY_TIMELINE + _SKIP_COLLISIONS, params, None)


# An order's facts on the timeline, as `_apply_order` queues them, written by the server for
# new history orders. `total_price` is rounded to the currency's minor unit, as
# `format_money` does (the stored amount never has more decimals than that, so the two
# agree).
_ORDER_KINDS = {"placed": events.ORDER_PLACED, "paid": events.ORDER_PAID,
                "cancelled": events.ORDER_CANCELLED, "fulfilled": events.ORDER_FULFILLED}
_MINOR_UNIT = "CASE upper(o.currency) {} ELSE 2 END".format(
    " ".join(f"WHEN '{code}' THEN {exponent}" for code, exponent in sorted(EXPONENTS.items())))
_HISTORY_TIMELINE = f"""
INSERT INTO timeline_events (shop_id, customer_id, kind, ref, occurred_at, data)
SELECT o.shop_id, o.customer_id, fact.kind, o.platform_order_id, fact.occurred_at,
       jsonb_build_object('order_id', o.id, 'name', o.name, 'currency', o.currency,
                          'total_price', round(o.total_price, {_MINOR_UNIT})::text)
FROM orders AS o
CROSS JOIN LATERAL (VALUES
    (%(placed)s, o.placed_at, true),
    (%(paid)s, coalesce(o.platform_updated_at, o.placed_at),
     o.financial_status = ANY(%(paid_states)s)),
    (%(cancelled)s, o.cancelled_at, o.cancelled_at IS NOT NULL),
    (%(fulfilled)s, coalesce(o.platform_updated_at, o.placed_at),
     o.fulfillment_status = 'fulfilled')
) AS fact (kind, occurred_at, happened)
WHERE o.shop_id = %(shop)s AND o.id BETWEEN %(low)s AND %(high)s
  AND o.id = ANY(%(ids)s::bigint[]) AND o.customer_id IS NOT NULL
  AND fact.happened"""  # noqa: S608 - no input in the text; values are parameters
_SKIP_COLLISIONS = "\nON CONFLICT (customer_id, kind, ref) DO NOTHING"


def _by_shape(rows) -> list[list[dict[str, Any]]]:
    """Group parameter sets by their keys: executemany sends one shape per statement."""
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for params in rows:
        shapes.setdefault(frozenset(params), []).append(params)
    return list(shapes.values())


def _chunks(items: list[str], size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _among(conn, column, values) -> Iterator[ColumnElement[bool]]:
    """Conditions that together match `column` against every value in `values`.

    PostgreSQL: one `column = ANY(:array)`, a single parameter however many values, so the
    statement is neither re-rendered nor re-parsed per batch. Elsewhere: IN lists of 500.
    """
    ordered = sorted(values)
    if not ordered:
        return
    if conn.dialect.name == "postgresql":
        yield column == any_(bindparam(None, ordered, type_=ARRAY(column.type)))
        return
    for chunk in _chunks(ordered):
        yield column.in_(chunk)


def refresh_customer_figures(session: Session, shop_id: int, customer_ids: set[int]) -> None:
    """Recompute orders_count, total_spent (net of refunds), first/last order and AOV.

    Correlated subqueries, one index range scan of a customer's orders each: the plan stays
    good whatever the planner's statistics say (a batch often lands in freshly filled tables).
    """
    conn = session.connection()
    mine = and_(_O.c.customer_id == _C.c.id, counted_order(_O.c))
    count = select(func.count(_O.c.id)).where(mine).scalar_subquery()
    spent = select(
        func.coalesce(func.sum(_O.c.total_price - _O.c.total_refunded), 0)
    ).where(mine).scalar_subquery()
    for among in _among(conn, _C.c.id, customer_ids):
        conn.execute(
            update(_C)
            .where(_C.c.shop_id == shop_id, among)
            .values(
                orders_count=count,
                total_spent=spent,
                first_order_at=select(func.min(_O.c.placed_at)).where(mine).scalar_subquery(),
                last_order_at=select(func.max(_O.c.placed_at)).where(mine).scalar_subquery(),
                updated_at=utcnow(),
            )
        )
        conn.execute(
            update(_C)
            .where(_C.c.shop_id == shop_id, among)
            .values(average_order_value=case(
                (_C.c.orders_count > 0, _C.c.total_spent / _C.c.orders_count), else_=None,
            ))
        )


def _refresh_figures_in_range(session: Session, shop_id: int, low: int, high: int) -> None:
    """Figures for the shop's profiles with ids in [low, high]: one aggregate over their
    orders feeding an UPDATE ... FROM, then a reset of those left with no counted order."""
    conn = session.connection()
    now = utcnow()
    figures = (
        select(_O.c.customer_id.label("cid"), func.count(_O.c.id).label("n"),
               func.sum(_O.c.total_price - _O.c.total_refunded).label("spent"),
               func.min(_O.c.placed_at).label("first"), func.max(_O.c.placed_at).label("last"))
        .where(_O.c.shop_id == shop_id, _O.c.customer_id.between(low, high),
               counted_order(_O.c))
        .group_by(_O.c.customer_id)
        .subquery()
    )
    conn.execute(
        update(_C).where(_C.c.shop_id == shop_id, _C.c.id == figures.c.cid)
        .values(orders_count=figures.c.n, total_spent=figures.c.spent,
                first_order_at=figures.c.first, last_order_at=figures.c.last,
                average_order_value=figures.c.spent / figures.c.n, updated_at=now)
    )
    conn.execute(
        update(_C).where(
            _C.c.shop_id == shop_id, _C.c.id.between(low, high),
            ~select(_O.c.id).where(_O.c.customer_id == _C.c.id, counted_order(_O.c)).exists(),
            or_(_C.c.orders_count != 0, _C.c.total_spent != 0, _C.c.first_order_at.is_not(None)),
        ).values(orders_count=0, total_spent=Decimal("0"), first_order_at=None,
                 last_order_at=None, average_order_value=None, updated_at=now)
    )


def refresh_all_customer_figures(session: Session, shop_id: int, *, chunk: int = 5000,
                                 progress=None) -> int:
    """Recompute every profile's figures, a range of ids at a time; returns how many.

    For after a history import (ProfileStore `defer_figures`), on fresh planner statistics.
    Commits nothing itself; `progress(n)` is called after each range with its size."""
    last_id = 0
    total = 0
    while True:
        ids = session.execute(
            select(_C.c.id).where(_C.c.shop_id == shop_id, _C.c.id > last_id)
            .order_by(_C.c.id).limit(chunk)
        ).scalars().all()
        if not ids:
            return total
        lock_shop(session, shop_id)
        _refresh_figures_in_range(session, shop_id, ids[0], ids[-1])
        last_id = ids[-1]
        total += len(ids)
        if progress is not None:
            progress(len(ids))


def mark_abandoned_carts(session: Session, shop_id: int, cutoff: datetime) -> list[DomainEvent]:
    """Open carts/checkouts of a known shopper idle since before `cutoff` become abandoned.

    A storefront cart that has a checkout is represented by that checkout, which carries the
    recovery URL; the cart itself is left alone.
    """
    checkout = aliased(Cart)
    has_checkout = (
        select(checkout.id).where(checkout.shop_id == shop_id, checkout.kind == "checkout",
                                  checkout.cart_token == Cart.token).exists()
    )
    rows = session.execute(
        select(Cart.id, Cart.customer_id, Cart.kind, Cart.token, Cart.total_price,
               Cart.currency, Cart.recovery_url)
        .where(Cart.shop_id == shop_id, Cart.status == CART_OPEN,
               Cart.customer_id.is_not(None), Cart.platform_updated_at < cutoff,
               Cart.total_price > 0,  # an emptied cart is nothing to win back
               or_(Cart.kind == "checkout", ~has_checkout))
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    now = utcnow()
    session.execute(update(Cart).where(Cart.id.in_([r.id for r in rows]))
                    .values(status="abandoned", abandoned_at=now))
    store = ProfileStore(session, shop_id)
    for row in rows:
        store._timeline(row.customer_id, events.CART_ABANDONED, f"{row.kind}:{row.token}", now,
                        {"cart_id": row.id, "total_price": str(row.total_price),
                         "currency": row.currency, "recovery_url": row.recovery_url})
    store._flush_timeline()
    return store.finish()
