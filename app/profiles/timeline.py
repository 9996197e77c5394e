"""The timeline: one row per fact about a profile, and the domain events new facts become.

A fact is (customer, kind, ref), unique in `timeline_events`. The batch's modules `add()` the
facts they learn; `flush()` inserts them, and each one that was not already stored becomes a
`DomainEvent` in `published`, once, however often it was queued. Facts that happened before
`history_before` (a history import's past) are stored but never published: importing a
store's past must not award points or send emails.

On PostgreSQL the timeline of new history orders is not built in Python at all: the server
writes it from the order rows (`_HISTORY_TIMELINE`, for the orders in `history_orders`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from app import events
from app.bulk import bulk_insert, bulk_insert_new, execute_while
from app.db import insert_for
from app.events import DomainEvent
from app.money import EXPONENTS
from app.profiles.models import TimelineEvent
from app.profiles.writer import BatchWriter

log = logging.getLogger(__name__)

# Order states in which an order has been paid (an `order_paid` fact).
PAID_STATES = {"paid", "partially_refunded", "refunded", "partially_paid"}

_T = TimelineEvent.__table__


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


class Timeline:
    """The batch's pending timeline rows and the events published from them.

    `history_before`: facts before this moment are history, stored but not published.
    `while_writing` is called (at most once per `flush_batch`) while PostgreSQL inserts the
    batch's timeline, its biggest write: a history import reads its next page then.
    """

    def __init__(self, writer: BatchWriter, *, history_before: datetime | None = None,
                 while_writing: Callable[[], None] | None = None) -> None:
        self.writer = writer
        self.shop_id = writer.shop_id
        self.history_before = history_before
        self.while_writing = while_writing
        self._pending: list[_Timeline] = []
        # New history orders (PostgreSQL): the server writes their facts from their rows.
        # Filled by `Orders.apply` (a list, not a method call per order: it is the hot path).
        self.history_orders: list[int] = []
        self.published: list[DomainEvent] = []

    def add(self, customer_id: int, kind: str, ref: str, occurred_at: datetime,
            data: dict[str, Any] | None = None, *, fresh: bool = False) -> None:
        """Queue a fact; `fresh`: no stored row can have its key (see `_Timeline.fresh`)."""
        self._pending.append(_Timeline(customer_id, kind, ref, occurred_at, data or {}, fresh))

    def is_history(self, *moments: datetime | None) -> bool:
        """True when every known moment of a fact lies before `history_before`."""
        cutoff = self.history_before
        return cutoff is not None and all(
            moment is None or moment < cutoff for moment in moments)

    def take_published(self) -> list[DomainEvent]:
        published, self.published = self.published, []
        return published

    def discard(self) -> None:
        """After a savepoint rollback: drop the rows not yet written."""
        self._pending.clear()
        self.history_orders.clear()

    def flush_batch(self) -> None:
        """Write pending rows and the queued history orders' rows; `while_writing` runs
        during the bigger of the two writes."""
        history, self.history_orders = self.history_orders, []
        self.flush(while_writing=None if history else self.while_writing)
        if history:
            self._insert_history(history)

    def flush(self, while_writing: Callable[[], None] | None = None) -> None:
        """Insert pending timeline rows; the ones that are new become domain events.

        Rows that may already be stored go through INSERT ... ON CONFLICT DO NOTHING, which
        says which ones were new. Fresh rows (see `_Timeline.fresh`) cannot collide and are
        simply inserted (COPY for many): most of a history import's timeline. Should one
        collide after all, the fresh rows take the checked path instead.
        """
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        fresh: dict[tuple[int, str, str], dict[str, Any]] = {}
        checked: dict[tuple[int, str, str], dict[str, Any]] = {}
        for t in pending:
            key = (t.customer_id, t.kind, t.ref)
            if key not in fresh and key not in checked:  # the first version of a fact wins
                (fresh if t.fresh else checked)[key] = {
                    "shop_id": self.shop_id, "customer_id": t.customer_id, "kind": t.kind,
                    "ref": t.ref, "occurred_at": t.occurred_at, "data": t.data}
        new: set[tuple[int, str, str]] = set()
        if fresh and self._insert_fresh(list(fresh.values()), while_writing):
            new.update(fresh)
        else:
            checked.update(fresh)
        if checked:
            new.update(bulk_insert_new(
                self.writer.conn, _T, list(checked.values()),
                unique=("customer_id", "kind", "ref"), returning=("customer_id", "kind", "ref"),
                small_insert=insert_for(self.writer.session, _T)
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

    def _insert_fresh(self, rows: list[dict[str, Any]],
                      while_writing: Callable[[], None] | None) -> bool:
        """Insert rows without a conflict check; False (nothing inserted) on a collision."""
        conn = self.writer.conn
        try:
            with conn.begin_nested():
                bulk_insert(conn, _T, rows, while_server_works=while_writing)
        except IntegrityError:
            log.warning("profiles.timeline_fresh_collision",
                        extra={"shop_id": self.shop_id, "rows": len(rows)})
            return False
        return True

    def _insert_history(self, order_ids: list[int]) -> None:
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
        conn = self.writer.conn
        try:
            with conn.begin_nested():
                execute_while(conn, _HISTORY_TIMELINE, params, self.while_writing)
        except IntegrityError:
            log.warning("profiles.timeline_fresh_collision",
                        extra={"shop_id": self.shop_id, "orders": len(order_ids)})
            execute_while(conn, _HISTORY_TIMELINE + _SKIP_COLLISIONS, params, None)


# An order's facts on the timeline, as `Orders.apply` queues them, written by the server for
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
