"""The batch writer: one batch's connection, ids for the rows it inserts, and its queued writes.

`BatchWriter` is the state a batch's modules share. The first statement takes the shop's
lock (`lock_shop`), so nothing else writes this shop's profiles until the transaction ends.
Rows that nothing later in the batch reads (order updates, line items, refunds, carts, cart
conversions) are queued in its dicts and lists, keyed by row id, and `flush()` sends each
queue as one executemany (or `COPY`), parents before the rows that refer to them. New rows get
their ids up front (`new_id`), so rows referring to them can be queued too.

The modules that fill the queues hold them by reference: a queue is cleared, never replaced.

The statements are Core, built once per process, not ORM unit-of-work: per-statement
overhead is most of the cost of a batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import (
    ARRAY,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from app.bulk import bulk_insert
from app.db import insert_for
from app.profiles.models import CART_CONVERTED, Cart, Customer, Order, OrderLine, Refund

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


_C = Customer.__table__
_O = Order.__table__
_L = OrderLine.__table__
_R = Refund.__table__
_K = Cart.__table__

UPDATE_CUSTOMER = update(_C).where(_C.c.id == bindparam("_id"))
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


class BatchWriter:
    """One batch's connection, id reservations and queued writes (see the module docstring).

    Queues, each sent by `flush()`: `customer_inserts`, `customer_updates` (by profile id;
    an update's parameters carry the id as `_id`), `order_inserts`, `order_updates`,
    `lines` (an order's line items, by order id), `replace_lines` (orders whose stored lines
    are deleted first), `refunds` (by platform refund id; a stored one is kept),
    `cart_inserts`, `cart_updates`, and `conversions` (carts an order converts, by how the
    order names them: "checkout" token or storefront "cart" token).

    `dirty_customers`: profiles whose figures the batch must recompute.
    """

    def __init__(self, session: Session, shop_id: int) -> None:
        self.session = session
        self.shop_id = shop_id
        self.postgres = session.get_bind().dialect.name == "postgresql"
        self._conn: Connection | None = None
        self.dirty_customers: set[int] = set()
        self._id_pool: dict[str, list[int]] = {}
        self.pool_hint = 16  # ids reserved per trip: the batch's size, once prefetch knows it
        self._sqlite_top: dict[str, int] = {}
        self.customer_inserts: dict[int, dict[str, Any]] = {}
        self.customer_updates: dict[int, dict[str, Any]] = {}
        self.order_inserts: dict[int, dict[str, Any]] = {}
        self.cart_inserts: dict[int, dict[str, Any]] = {}
        self.cart_updates: dict[int, dict[str, Any]] = {}
        self.order_updates: dict[int, dict[str, Any]] = {}
        self.lines: dict[int, list[dict[str, Any]]] = {}
        self.replace_lines: set[int] = set()
        self.refunds: dict[str, dict[str, Any]] = {}
        self.conversions: dict[str, list[dict[str, Any]]] = {"checkout": [], "cart": []}

    @property
    def conn(self) -> Connection:
        """The session's connection, after taking the shop's lock (on first use)."""
        if self._conn is None:
            lock_shop(self.session, self.shop_id)
            self._conn = self.session.connection()
        return self._conn

    def exec(self, statement, params=None):
        return self.conn.execute(statement, params)

    def new_id(self, table: Table) -> int:
        """An id for a row this batch will insert, drawn ahead from the table's sequence."""
        pool = self._id_pool.setdefault(table.name, [])
        if not pool:
            n = max(16, self.pool_hint)
            if self.postgres:
                pool.extend(self.exec(
                    text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) "
                         "FROM generate_series(1, :n)"), {"t": table.name, "n": n}
                ).scalars())
            else:
                # SQLite has no sequences. The transaction holds the database's write lock
                # (BEGIN IMMEDIATE), so ids above the table's highest are ours to hand out.
                top = self._sqlite_top.get(table.name)
                if top is None:
                    top = self.exec(select(func.coalesce(func.max(table.c.id), 0))).scalar()
                pool.extend(range(top + 1, top + 1 + n))
                self._sqlite_top[table.name] = top + n
            pool.reverse()
        return pool.pop()

    def flush_customer_inserts(self) -> None:
        """Send queued new profiles: before any statement that must see them."""
        if self.customer_inserts:
            bulk_insert(self.conn, _C, list(self.customer_inserts.values()))
            self.customer_inserts.clear()

    def flush(self) -> None:
        """Send queued rows, parents before the rows that refer to them."""
        conn = self.conn
        self.flush_customer_inserts()
        if self.customer_updates:
            for rows in _by_shape(self.customer_updates.values()):
                conn.execute(UPDATE_CUSTOMER, rows)
            self.customer_updates.clear()
        if self.order_inserts:
            bulk_insert(conn, _O, list(self.order_inserts.values()))
            self.order_inserts.clear()
        if self.order_updates:
            conn.execute(_UPDATE_ORDER, list(self.order_updates.values()))
            self.order_updates.clear()
        if self.replace_lines:
            for among in among_values(conn, _L.c.order_id, self.replace_lines):
                conn.execute(delete(_L).where(among))
            self.replace_lines.clear()
        if self.lines:
            rows = [row for lines in self.lines.values() for row in lines]
            bulk_insert(conn, _L, rows)
            self.lines.clear()
        if self.refunds:
            upsert = insert_for(self.session, _R)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["shop_id", "platform_refund_id"],
                    set_={"amount": upsert.excluded.amount},
                    where=upsert.excluded.amount > _R.c.amount),
                list(self.refunds.values()),
            )
            self.refunds.clear()
        if self.cart_inserts:
            bulk_insert(conn, _K, list(self.cart_inserts.values()))
            self.cart_inserts.clear()
        if self.cart_updates:
            for rows in _by_shape(self.cart_updates.values()):
                conn.execute(_UPDATE_CART, rows)
            self.cart_updates.clear()
        # Sent after the batch's carts, so a cart that arrives after its order converts too.
        for key, queued in self.conversions.items():
            if queued:
                conn.execute(_CONVERT_CARTS[key], queued)
                queued.clear()

    def discard(self) -> None:
        """After a savepoint rollback: drop every queued row (reserved ids stay unused)."""
        self.customer_inserts.clear()
        self.customer_updates.clear()
        self.order_inserts.clear()
        self.order_updates.clear()
        self.cart_inserts.clear()
        self.cart_updates.clear()
        self.lines.clear()
        self.replace_lines.clear()
        self.refunds.clear()
        for queued in self.conversions.values():
            queued.clear()


def _by_shape(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Group parameter sets by their keys: executemany sends one shape per statement."""
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for params in rows:
        shapes.setdefault(frozenset(params), []).append(params)
    return list(shapes.values())


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def among_values(conn: Connection, column, values: Iterable[Any]
                 ) -> Iterator[ColumnElement[bool]]:
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
