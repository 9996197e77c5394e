"""Appending to the event log, and reading, re-pointing and erasing what it holds.

The ordering invariant every cursor relies on: **within one shop, a committed event's id is
greater than the id of every event of that shop committed before it.** PostgreSQL sequences
alone do not give that (a transaction can draw id 10, then commit after another transaction
that drew 11 has committed and been read past). `publish` therefore holds a per-shop,
transaction-scoped lock from before it draws ids until its transaction ends; whoever appends
next draws its ids after that commit. The lock is the log's own (it does not rely on the
caller holding the profile store's `lock_shop`, which every producer also takes first). On
SQLite, `BEGIN IMMEDIATE` already serializes writers and AUTOINCREMENT never reuses an id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime

from flask import current_app, has_app_context
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from app.bulk import bulk_insert
from app.db import after_commit, utcnow
from app.events.domain import DomainEvent
from app.events.models import StoredEvent
from app.events.registration import record_new, unrecorded
from app.events.registry import registry

log = logging.getLogger(__name__)

_E = StoredEvent.__table__

# pg_advisory_xact_lock(namespace, shop_id): "appending to this shop's event log". Always
# taken after the profile store's lock (namespace 7301) when both are, so they never deadlock.
EVENT_LOG_LOCK_NAMESPACE = 7302


def publish(session: Session, events: list[DomainEvent]) -> None:
    """Append `events` to their shops' logs in the caller's transaction.

    Nothing is delivered here. After the transaction commits, a dispatch of each shop is
    requested (if any subscriber is registered); if that request is lost (Redis down), the
    periodic sweep finds the undelivered events. A rollback takes the events with it.
    """
    if not events:
        return
    now = utcnow()
    by_shop: dict[int, list[dict]] = {}
    for e in events:
        by_shop.setdefault(e.shop_id, []).append({
            "shop_id": e.shop_id, "customer_id": e.customer_id, "kind": e.kind, "ref": e.ref,
            "occurred_at": e.occurred_at, "recorded_at": now, "data": e.data})
    conn = session.connection()
    postgres = conn.dialect.name == "postgresql"
    subscribers = registry(current_app) if has_app_context() else None
    for shop_id in sorted(by_shop):  # one order for everyone, should a batch span shops
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :shop)"),
                         {"ns": EVENT_LOG_LOCK_NAMESPACE, "shop": shop_id})
        if subscribers and unrecorded(subscribers, current_app):
            # A subscriber this process knows and the database does not: it starts now,
            # before this batch, so the batch's events are its first.
            record_new(session, subscribers, current_app)
        bulk_insert(conn, _E, by_shop[shop_id])
    if subscribers:  # else nobody to tell: the events wait in the log (replay, backtests)
        _announce_after_commit(session, by_shop)


def _announce_after_commit(session: Session, shop_ids: Iterable[int]) -> None:
    after_commit(session, "events.dispatch", shop_ids, _announce)


def _announce(shop_ids: list[int]) -> None:
    if not has_app_context():
        return
    from app.events.queueing import request_dispatch

    for shop_id in shop_ids:
        request_dispatch(shop_id)


def reassign_customer(session: Session, shop_id: int, old_id: int, new_id: int,
                      unpublished: Iterable[DomainEvent] = ()) -> list[DomainEvent]:
    """A guest profile merged into a registered one: its events now name the profile that
    remains (the guest's id is deleted), so a later subscriber and redaction find them, and
    each subscriber's `merge` hook moves what it keeps about the guest.

    `unpublished`: the batch's events not yet appended; returned with the same change."""
    session.execute(update(_E).where(_E.c.shop_id == shop_id, _E.c.customer_id == old_id)
                    .values(customer_id=new_id))
    if has_app_context():
        for subscriber in registry(current_app):
            if subscriber.merge is not None:
                subscriber.merge(session, shop_id, old_id, new_id)
    return [replace(e, customer_id=new_id) if e.customer_id == old_id else e
            for e in unpublished]


def erase_customers(session: Session, shop_id: int, customer_ids: list[int]) -> int:
    """Delete the events about these profiles (customers/redact); returns how many."""
    if not customer_ids:
        return 0
    return session.execute(delete(_E).where(
        _E.c.shop_id == shop_id, _E.c.customer_id.in_(customer_ids))).rowcount


def as_event(row) -> DomainEvent:
    return DomainEvent(row.shop_id, row.customer_id, row.kind, row.ref, row.occurred_at,
                       row.data or {}, id=row.id)


def history(session: Session, shop_id: int, *, kinds: Iterable[str] | None = None,
            customers: Iterable[int] | None = None, occurred_from: datetime | None = None,
            occurred_to: datetime | None = None, after_id: int = 0,
            page: int = 1000) -> Iterator[DomainEvent]:
    """A shop's stored events in log order, read a page at a time; moves no cursor.

    For a backtest (what would this flow have done?), a recompute or an export. `kinds`,
    `customers` (profile ids) narrow it; `occurred_from` / `occurred_to` bound `occurred_at`
    (from inclusive, to exclusive); `after_id` resumes after an event already seen. Each page
    is its own query in the caller's transaction.
    """
    query = select(_E).where(_E.c.shop_id == shop_id)
    if customers is not None:
        query = query.where(_E.c.customer_id.in_(sorted(set(customers))))
    if kinds is not None:
        query = query.where(_E.c.kind.in_(sorted(set(kinds))))
    if occurred_from is not None:
        query = query.where(_E.c.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(_E.c.occurred_at < occurred_to)
    last = after_id
    while True:
        rows = session.execute(query.where(_E.c.id > last).order_by(_E.c.id).limit(page)).all()
        for row in rows:
            yield as_event(row)
        if len(rows) < page:
            return
        last = rows[-1].id
