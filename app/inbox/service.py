"""The webhook inbox: store a delivery once, apply pending deliveries in batches.

Each batch is one transaction holding a per-shop lock: its deliveries are applied (each in a
savepoint, so one bad delivery fails alone) and marked processed together. A worker killed
mid-batch therefore leaves every row of that batch pending, with none of its effects, and
the next drain or the periodic sweep applies them once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

import orjson
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.inbox.models import FAILED, PENDING, PROCESSED, InboxEntry
from app.profiles.service import ProfileStore, lock_shop
from connectors.records import PayloadError

log = logging.getLogger(__name__)


@dataclass
class DrainResult:
    processed: int = 0
    failed: int = 0
    batches: int = 0
    event_kinds: dict[str, int] = field(default_factory=dict)


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


def _is_connection_problem(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


class _RetryCarefully(Exception):
    """A delivery failed inside an optimistic batch: redo the batch one savepoint per row."""


def apply_batch(session: Session, shop_id: int, normalize, batch_size: int,
                result: DrainResult) -> int:
    """Apply up to `batch_size` pending deliveries of one shop. Returns how many were taken.

    `normalize(topic, payload) -> list[Record]` is the shop's connector. The batch is first
    applied in one go (no savepoints: the fast path). If any delivery fails, the whole
    transaction is rolled back and the batch is redone with a savepoint per delivery, so
    the bad one fails alone and the rest still apply.
    """
    try:
        return _apply_batch(session, shop_id, normalize, batch_size, result, careful=False)
    except _RetryCarefully:
        return _apply_batch(session, shop_id, normalize, batch_size, result, careful=True)


def _apply_batch(session: Session, shop_id: int, normalize, batch_size: int,
                 result: DrainResult, *, careful: bool) -> int:
    with session.begin():
        lock_shop(session, shop_id)
        query = (
            select(InboxEntry.id, InboxEntry.topic, InboxEntry.payload)
            .where(InboxEntry.shop_id == shop_id, InboxEntry.status == PENDING)
            .order_by(InboxEntry.id)
            .limit(batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = session.execute(query).all()
        if not rows:
            return 0
        done: list[int] = []
        failures: list[dict] = []
        parsed: list[tuple[int, str, list]] = []
        for entry_id, topic, payload in rows:
            try:
                parsed.append((entry_id, topic, normalize(topic, orjson.loads(payload))))
            except orjson.JSONDecodeError:
                failures.append({"eid": entry_id, "err": "body is not valid JSON"})
            except (PayloadError, ValueError, TypeError, KeyError) as exc:
                failures.append({"eid": entry_id, "err": f"cannot read {topic} payload: {exc}"})
        store = ProfileStore(session, shop_id, flush_each=careful)
        store.prefetch([record for _, _, records in parsed for record in records])
        for entry_id, topic, records in parsed:
            savepoint = session.begin_nested() if careful else None
            try:
                for record in records:
                    store.apply(record)
            except Exception as exc:
                if _is_connection_problem(exc):
                    raise
                if savepoint is None:
                    raise _RetryCarefully from exc
                savepoint.rollback()
                store.discard_pending()
                log.exception("inbox.apply_failed",
                              extra={"shop_id": shop_id, "inbox_id": entry_id, "topic": topic})
                failures.append({"eid": entry_id, "err": f"{type(exc).__name__}: {exc}"[:2000]})
                continue
            if savepoint is not None:
                savepoint.commit()
            done.append(entry_id)
        published = store.finish()
        now = utcnow()
        if done:
            session.execute(
                update(InboxEntry).where(InboxEntry.id.in_(done))
                .values(status=PROCESSED, processed_at=now, attempts=InboxEntry.attempts + 1,
                        error=None)
            )
        if failures:
            table = InboxEntry.__table__
            session.execute(
                update(table).where(table.c.id == bindparam("eid"))
                .values(status=FAILED, processed_at=now, attempts=table.c.attempts + 1,
                        error=bindparam("err")),
                failures,
            )
            for failure in failures:
                log.warning("inbox.delivery_failed", extra={"shop_id": shop_id,
                            "inbox_id": failure["eid"], "error": failure["err"]})
    result.processed += len(done)
    result.failed += len(failures)
    result.batches += 1
    for event in published:
        result.event_kinds[event.kind] = result.event_kinds.get(event.kind, 0) + 1
    return len(rows)


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


def retry_failed(session: Session, shop_id: int | None = None) -> int:
    with session.begin():
        query = update(InboxEntry).where(InboxEntry.status == FAILED)
        if shop_id is not None:
            query = query.where(InboxEntry.shop_id == shop_id)
        return session.execute(query.values(status=PENDING, error=None)).rowcount


def counts(session: Session, shop_id: int | None = None) -> dict[str, int]:
    query = select(InboxEntry.status, func.count()).group_by(InboxEntry.status)
    if shop_id is not None:
        query = query.where(InboxEntry.shop_id == shop_id)
    return dict(session.execute(query).all())
