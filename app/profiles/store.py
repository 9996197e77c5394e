"""`ProfileStore`: applying one batch of neutral records to the profile store.

A store is used for one batch inside one transaction: `prefetch()` the batch's records,
`apply()` each one (a caller that wraps each delivery in a savepoint passes
`flush_each=True`, and calls `discard_pending()` after rolling one back), then `finish()`
once, which brings refund totals and per-customer figures in line with the stored rows and
publishes the batch's domain events.

The store composes the modules that do the work around one shared `BatchWriter` (the
package docstring lists them and the rules they keep). Reads the batch needs are prefetched
in a few queries. Most writes are queued, new rows with their ids reserved up front, and
sent as one executemany or `COPY` each by `flush()`; the modules' caches answer later
records' reads of rows still queued, and a lookup that must ask the database sends queued
profiles first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent
from app.profiles.carts import Carts
from app.profiles.figures import refresh_customer_figures
from app.profiles.identity import Identity
from app.profiles.orders import Orders
from app.profiles.prefetch import prefetch
from app.profiles.timeline import Timeline
from app.profiles.writer import BatchWriter
from connectors.records import (
    CartRecord,
    CustomerDeleted,
    CustomerRecord,
    MarketingConsentRecord,
    OrderRecord,
    Record,
    RefundRecord,
)


class ProfileStore:
    """Applies one batch of records inside one transaction."""

    def __init__(self, session: Session, shop_id: int, *, flush_each: bool = False,
                 defer_figures: bool = False, history_before: datetime | None = None,
                 while_writing: Callable[[], None] | None = None) -> None:
        """`flush_each=True` writes everything after every record, for callers that wrap each
        record in a savepoint; otherwise queued writes go out in `finish()`.

        `defer_figures=True` leaves per-customer figures to the caller, who must run
        `figures.refresh_all_customer_figures` when done (a history backfill: a customer's
        figures would otherwise be recomputed on every page that holds one of their orders).

        `history_before`: facts that happened before this moment are the store's history,
        imported after the fact (a backfill passes the shop's install time). They go on the
        timeline but are not published as domain events: importing a store's past must not
        award points or send emails. On PostgreSQL the server writes the timeline rows of new
        history orders itself, from the order rows (`timeline._HISTORY_TIMELINE`).

        `while_writing` is called (at most once per flush) while PostgreSQL inserts the
        batch's timeline, its biggest write: a history import reads its next page then."""
        self.session = session
        self.shop_id = shop_id
        self.flush_each = flush_each
        self.defer_figures = defer_figures
        self.writer = BatchWriter(session, shop_id)
        self.timeline = Timeline(self.writer, history_before=history_before,
                                 while_writing=while_writing)
        self.identity = Identity(self.writer, self.timeline, flush_all=self.flush,
                                 forget_rows=self._forget_rows)
        self.orders = Orders(self.writer, self.identity, self.timeline)
        self.carts = Carts(self.writer, self.identity, self.orders, self.timeline)

    def prefetch(self, records: list[Record]) -> None:
        """Load what the batch will look up, a few queries per batch rather than per record."""
        self.writer.pool_hint = len(records)
        prefetch(records, identity=self.identity, orders=self.orders, carts=self.carts)

    def apply(self, record: Record) -> None:
        if isinstance(record, OrderRecord):
            self._apply_order(record)
        elif isinstance(record, RefundRecord):
            self.orders.insert_refund(record)
        elif isinstance(record, CustomerRecord):
            self.identity.upsert_customer(record)
        elif isinstance(record, CartRecord):
            self.carts.apply(record)
        elif isinstance(record, MarketingConsentRecord):
            self.identity.apply_consent(record)
        elif isinstance(record, CustomerDeleted):
            self.identity.apply_customer_deleted(record)
        else:  # pragma: no cover - a connector returned something new
            raise TypeError(f"unknown record type {type(record).__name__}")
        if self.flush_each:
            self.flush()

    def _apply_order(self, record: OrderRecord) -> None:
        # Its own method so that a test can make one order's application fail.
        self.orders.apply(record)

    @property
    def published(self) -> list[DomainEvent]:
        """The events the batch has recorded so far, published by `finish()`. A caller that
        rolls back a savepoint deletes the ones recorded since (the inbox does)."""
        return self.timeline.published

    def flush(self) -> None:
        """Send queued writes and timeline rows."""
        self.writer.flush()
        self.timeline.flush_batch()

    def finish(self) -> list[DomainEvent]:
        """Bring derived figures in line with this batch's changes; publish its events."""
        self.flush()
        self.orders.refresh_refund_totals()
        dirty = self.writer.dirty_customers
        if dirty and not self.defer_figures:
            refresh_customer_figures(self.session, self.shop_id, dirty)
        events.publish(self.session, self.timeline.published)
        published = self.timeline.take_published()
        dirty.clear()
        return published

    def discard_pending(self) -> None:
        """After a savepoint rollback: drop unwritten rows and every cached read."""
        self.timeline.discard()
        self.writer.discard()
        self.identity.forget()
        self.orders.discard()
        self.carts.forget()

    def _forget_rows(self) -> None:
        """A merge moved orders and carts to another profile: their cached rows are stale."""
        self.orders.forget()
        self.carts.forget()
