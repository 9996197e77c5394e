"""The webhook inbox: store a delivery once, apply pending deliveries in batches.

Each batch is one transaction holding a per-shop lock: its deliveries are applied and marked
processed (or failed, with a reason) together. A worker killed mid-batch therefore leaves
every row of that batch pending, with none of its effects, and the next drain or the
periodic sweep applies them once. A delivery that cannot be applied, whatever its body
holds, fails alone and blocks nothing (`apply_batch`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, defer

from app.db import insert_for, utcnow
from app.events import DomainEvent
from app.inbox import failures
from app.inbox.models import FAILED, PENDING, PROCESSED, InboxEntry
from app.profiles.store import ProfileStore
from app.profiles.writer import lock_shop
from connectors.fields import without_nul
from connectors.records import PayloadError, Record

log = logging.getLogger(__name__)


@dataclass
class DrainResult:
    processed: int = 0
    failed: int = 0
    batches: int = 0
    event_kinds: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: _Outcome, published: list[DomainEvent], *, batches: int = 1) -> None:
        self.processed += len(outcome.done)
        self.failed += len(outcome.failures)
        self.batches += batches
        for event in published:
            self.event_kinds[event.kind] = self.event_kinds.get(event.kind, 0) + 1


def store_delivery(session: Session, *, shop_id: int, topic: str, delivery_key: str,
                   payload: bytes, status: str = PENDING) -> int | None:
    """Record a delivery: the new row's id, or None when this delivery was already recorded
    (a redelivery). The receivers go through `app.inbox.accept`, which does the same in one
    statement on PostgreSQL."""
    return session.execute(
        insert_for(session, InboxEntry)
        .values(shop_id=shop_id, topic=topic, delivery_key=delivery_key, payload=payload,
                status=status, attempts=0, received_at=utcnow())
        .on_conflict_do_nothing(index_elements=["shop_id", "delivery_key"])
        .returning(InboxEntry.id)
    ).scalar()


class _RetryCarefully(Exception):
    """Applying the batch in one go failed: redo it one savepoint per delivery."""


class _RetryAlone(Exception):
    """Even the careful batch failed in its closing work: redo it one transaction per delivery."""

    def __init__(self, entry_ids: list[int]) -> None:
        super().__init__(f"{len(entry_ids)} deliveries")
        self.entry_ids = entry_ids


@dataclass
class _Outcome:
    done: list[int] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    def fail(self, entry_id: int, reason: str) -> None:
        self.failures.append({"eid": entry_id, "err": reason})


def apply_batch(session: Session, shop_id: int, normalize, batch_size: int,
                result: DrainResult) -> int:
    """Apply up to `batch_size` pending deliveries of one shop. Returns how many were taken.

    `normalize(topic, payload) -> list[Record]` is the shop's connector. Whatever a stored
    body holds, its delivery ends processed or failed with a reason, and the batch's other
    deliveries are applied. Only the database being unavailable (`failures.is_transient`)
    raises, leaving the batch pending for the retry. Three ways, each only if the previous
    one failed:

    1. the batch in one go, in one transaction (the fast path);
    2. the batch with each delivery's parse, prefetch, apply and writes in a savepoint of
       its own, so a bad one is rolled back and failed alone; then the batch's closing work
       (refund totals, figures, events);
    3. if even that closing work fails, one delivery per transaction, closing work included,
       so the delivery that breaks it is found and failed alone.
    """
    try:
        return _apply_batch(session, shop_id, normalize, batch_size, result, careful=False)
    except _RetryCarefully:
        pass
    try:
        return _apply_batch(session, shop_id, normalize, batch_size, result, careful=True)
    except _RetryAlone as retry:
        return _apply_alone(session, shop_id, normalize, retry.entry_ids, result)


def _pending(session: Session, shop_id: int, limit: int):
    query = (
        select(InboxEntry.id, InboxEntry.topic, InboxEntry.payload)
        .where(InboxEntry.shop_id == shop_id, InboxEntry.status == PENDING)
        .order_by(InboxEntry.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.execute(query).all()


def _parse(normalize, topic: str, payload: bytes) -> tuple[list[Record], str | None]:
    """The delivery's records, or the reason it cannot be read. Never raises."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        return [], failures.not_json(exc)
    if b"\\u0000" in payload:  # JSON can only carry a NUL escaped
        body = without_nul(body)
    try:
        return normalize(topic, body), None
    except Exception as exc:  # noqa: BLE001 - any shape the connector did not foresee
        return [], failures.unreadable(topic, exc)


def _apply_batch(session: Session, shop_id: int, normalize, batch_size: int,
                 result: DrainResult, *, careful: bool) -> int:
    with session.begin():
        lock_shop(session, shop_id)
        rows = _pending(session, shop_id, batch_size)
        if not rows:
            return 0
        store = ProfileStore(session, shop_id, flush_each=careful)
        outcome = _Outcome()
        if careful:
            for entry_id, topic, payload in rows:
                reason = _apply_in_savepoint(session, store, normalize, shop_id, entry_id,
                                             topic, payload)
                if reason is None:
                    outcome.done.append(entry_id)
                else:
                    outcome.fail(entry_id, reason)
        else:
            _apply_together(store, normalize, rows, outcome)
        try:
            published = store.finish()
        except Exception as exc:
            if failures.is_transient(exc):
                raise
            log.warning("inbox.batch_closing_failed", extra={
                "shop_id": shop_id, "careful": careful, "error": failures.explain(exc)[:200]})
            if careful:
                raise _RetryAlone([row.id for row in rows]) from exc
            raise _RetryCarefully from exc
        _record(session, shop_id, outcome)
    result.add(outcome, published)
    return len(rows)


def _apply_together(store: ProfileStore, normalize, rows, outcome: _Outcome) -> None:
    """The fast path: parse every delivery, prefetch once, apply all. Any failure past the
    parse (which is pure Python and fails a delivery alone) makes the batch redo carefully."""
    parsed: list[tuple[int, list[Record]]] = []
    for entry_id, topic, payload in rows:
        records, reason = _parse(normalize, topic, payload)
        if reason is None:
            parsed.append((entry_id, records))
        else:
            outcome.fail(entry_id, reason)
    try:
        store.prefetch([record for _, records in parsed for record in records])
        for entry_id, records in parsed:
            for record in records:
                store.apply(record)
            outcome.done.append(entry_id)
    except Exception as exc:
        if failures.is_transient(exc):
            raise
        raise _RetryCarefully from exc


def _apply_in_savepoint(session: Session, store: ProfileStore, normalize, shop_id: int,
                        entry_id: int, topic: str, payload: bytes) -> str | None:
    """Parse, prefetch, apply and write one delivery in a savepoint. None when applied, else
    the reason it failed (its effects rolled back, the store's caches dropped)."""
    records, reason = _parse(normalize, topic, payload)
    if reason is not None:
        return reason
    published = len(store.published)
    savepoint = session.begin_nested()
    try:
        store.prefetch(records)
        for record in records:
            store.apply(record)
        store.flush()
    except Exception as exc:
        if failures.is_transient(exc):
            raise
        savepoint.rollback()
        store.discard_pending()
        del store.published[published:]  # facts of the rolled-back writes
        _log_failure(shop_id, entry_id, topic, exc)
        return failures.unappliable(topic, exc)
    savepoint.commit()
    return None


def _apply_alone(session: Session, shop_id: int, normalize, entry_ids: list[int],
                 result: DrainResult) -> int:
    """One transaction per delivery, closing work included: the last resort."""
    for entry_id in entry_ids:
        topic = None
        try:
            with session.begin():
                lock_shop(session, shop_id)
                query = select(InboxEntry.topic, InboxEntry.payload).where(
                    InboxEntry.id == entry_id, InboxEntry.status == PENDING)
                if session.get_bind().dialect.name == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                row = session.execute(query).first()
                if row is None:
                    continue  # taken by another drain meanwhile
                topic = row.topic
                outcome = _Outcome()
                records, reason = _parse(normalize, topic, row.payload)
                published = []
                if reason is None:
                    store = ProfileStore(session, shop_id)
                    store.prefetch(records)
                    for record in records:
                        store.apply(record)
                    published = store.finish()
                    outcome.done.append(entry_id)
                else:
                    outcome.fail(entry_id, reason)
                _record(session, shop_id, outcome)
            result.add(outcome, published, batches=0)
        except Exception as exc:
            if failures.is_transient(exc) or topic is None:
                raise
            _log_failure(shop_id, entry_id, topic, exc)
            outcome = _Outcome()
            outcome.fail(entry_id, failures.unappliable(topic, exc))
            with session.begin():
                lock_shop(session, shop_id)
                _record(session, shop_id, outcome, only_pending=True)
            result.add(outcome, [], batches=0)
    result.batches += 1
    return len(entry_ids)


def _log_failure(shop_id: int, entry_id: int, topic: str, exc: Exception) -> None:
    extra = {"shop_id": shop_id, "inbox_id": entry_id, "topic": topic}
    if isinstance(exc, PayloadError | DBAPIError):
        # The input's fault, and the error text may quote it: the reason says enough.
        log.warning("inbox.apply_failed", extra={**extra, "error": failures.explain(exc)[:200]})
    else:
        log.exception("inbox.apply_failed", extra=extra)  # likely a bug: keep the traceback


def _record(session: Session, shop_id: int, outcome: _Outcome, *,
            only_pending: bool = False) -> None:
    """Mark the outcome's deliveries processed or failed (with their reasons)."""
    now = utcnow()
    if outcome.done:
        session.execute(
            update(InboxEntry).where(InboxEntry.id.in_(outcome.done))
            .values(status=PROCESSED, processed_at=now, attempts=InboxEntry.attempts + 1,
                    error=None)
        )
    if outcome.failures:
        table = InboxEntry.__table__
        condition = table.c.id == bindparam("eid")
        if only_pending:
            condition = condition & (table.c.status == PENDING)
        session.execute(
            update(table).where(condition)
            .values(status=FAILED, processed_at=now, attempts=table.c.attempts + 1,
                    error=bindparam("err")),
            outcome.failures,
        )
        for failure in outcome.failures:
            log.warning("inbox.delivery_failed", extra={"shop_id": shop_id,
                        "inbox_id": failure["eid"], "error": failure["err"]})


def drain(session: Session, shop_id: int, normalize, *, batch_size: int = 500,
          max_seconds: float = 60.0) -> tuple[DrainResult, bool]:
    """Apply pending deliveries until none are left or time is up. Returns (result, more)."""
    result = DrainResult()
    deadline = time.monotonic() + max_seconds
    while True:
        taken = apply_batch(session, shop_id, normalize, batch_size, result)
        if taken < batch_size:
            return result, False
        if time.monotonic() > deadline:
            return result, True


def shops_with_stale_pending(session: Session, older_than: timedelta) -> list[int]:
    cutoff = utcnow() - older_than
    return list(session.execute(
        select(InboxEntry.shop_id).where(InboxEntry.status == PENDING,
                                         InboxEntry.received_at < cutoff)
        .group_by(InboxEntry.shop_id)
    ).scalars())


def purge_processed(session: Session, older_than: timedelta) -> int:
    cutoff = utcnow() - older_than
    with session.begin():
        return session.execute(
            delete(InboxEntry).where(InboxEntry.status == PROCESSED,
                                     InboxEntry.processed_at < cutoff)
        ).rowcount


def counts(session: Session, shop_id: int | None = None, *,
           received_since: datetime | None = None) -> dict[str, int]:
    """Deliveries by status (of one shop; received since a time)."""
    query = select(InboxEntry.status, func.count()).group_by(InboxEntry.status)
    if shop_id is not None:
        query = query.where(InboxEntry.shop_id == shop_id)
    if received_since is not None:
        query = query.where(InboxEntry.received_at >= received_since)
    return dict(session.execute(query).all())


def failed_count(session: Session, shop_id: int) -> int:
    """How many of the store's deliveries are failed now (read from `ix_inbox_failed`)."""
    return session.execute(select(func.count()).select_from(InboxEntry).where(
        InboxEntry.shop_id == shop_id, InboxEntry.status == FAILED)).scalar_one()


def latest_failed(session: Session, shop_id: int | None = None, *,
                  limit: int = 50) -> list[InboxEntry]:
    """Failed deliveries, newest first, with their reasons (`inbox status --failed`, the
    Settings page). The payload is not loaded: it can be large and is not shown."""
    query = (select(InboxEntry).where(InboxEntry.status == FAILED)
             .options(defer(InboxEntry.payload))
             .order_by(InboxEntry.id.desc()).limit(limit))
    if shop_id is not None:
        query = query.where(InboxEntry.shop_id == shop_id)
    return list(session.execute(query).scalars())
