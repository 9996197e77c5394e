"""Applying a planned import: a chunk of items per transaction, resumable, never half-applied.

    run = run_import(session, run_id)     # start, or resume after the last committed chunk

Each chunk is written through the profile store and committed together with the run's
cursor and counts, so a run killed at any moment resumes exactly after its last committed
chunk; applying the same file again finds every item already there (customers by normalized
email, orders by their `import:` platform id) and changes nothing twice.

The store is told that everything is history (`history_before` far in the future): imported
customers and orders go on the timeline and count in every figure, but no domain event is
published for them, so no points are awarded and no flow starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.imports.models import COMPLETED, CUSTOMERS, FAILED, RUNNING, ImportRun
from app.imports.planning import (
    classify_customer,
    classify_order,
    consent_change,
    existing_profiles,
    fills,
    stored_orders,
)
from app.imports.service import items_of
from app.imports.validate import CustomerItem, OrderItem
from app.profiles.models import Customer
from app.profiles.store import ProfileStore
from app.queue import get_redis
from connectors.records import (
    CustomerRecord,
    LineRecord,
    MarketingConsentRecord,
    OrderRecord,
    RefundRecord,
)

log = logging.getLogger(__name__)

CHUNK_SIZE = 500
LOCK_SECONDS = 120  # a dead importer holds the lock this long; every chunk renews it
# Every imported fact happened before this: history, never news.
HISTORY = datetime(9999, 1, 1, tzinfo=UTC)
IMPORTED = "customer_imported"  # the timeline fact that marks an imported profile

# Test hooks, called with the run: "chunk_written" after a chunk's writes, before its commit
# (a crash there loses the chunk, never half of it); "chunk_committed" after the commit.
checkpoints: dict[str, Callable[[ImportRun], None]] = {}

_C = Customer.__table__


class ImportBusy(Exception):
    """Another process is applying an import for this shop."""


def run_import(session: Session, run_id: int, *, chunk_size: int | None = None,
               on_progress: Callable[[ImportRun], None] | None = None) -> ImportRun:
    """Apply (or resume) run `run_id`; return it finished. A failure is recorded on the run
    (status "failed", error) and re-raised; running again resumes after the last chunk."""
    run = session.get(ImportRun, run_id)
    if run is None:
        raise LookupError(f"there is no import run {run_id}")
    if run.status == COMPLETED:
        return run
    lock = get_redis().lock(f"sticky:import:{run.shop_id}", timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        raise ImportBusy("another import into this store is running; wait for it to finish")
    try:
        now = utcnow()
        run.status, run.error, run.finished_at = RUNNING, None, None
        run.started_at = run.started_at or now
        run.updated_at = now
        session.commit()
        log.info("imports.started", extra={"shop_id": run.shop_id, "run_id": run.id,
                                           "cursor": run.cursor})
        try:
            items = items_of(run).items
            from_platform = None
            if run.kind != CUSTOMERS:
                # Orders the platform itself sent: read once per run (no index on names).
                from_platform = stored_orders(session.connection(), run.shop_id,
                                              items[run.cursor:]).from_platform
                session.commit()
            chunks, size = 0, chunk_size or CHUNK_SIZE
            while run.cursor < len(items):
                chunk = items[run.cursor:run.cursor + size]
                _apply_chunk(session, run, chunk, from_platform)
                chunks += 1
                if chunks & (chunks - 1) == 0:  # chunks 1, 2, 4, 8, ...
                    _refresh_planner_statistics(session)
                lock.reacquire()
                if on_progress is not None:
                    on_progress(run)
            run.status, run.finished_at = COMPLETED, utcnow()
            run.updated_at = run.finished_at
            session.commit()
        except BaseException as exc:
            session.rollback()
            run.status, run.error = FAILED, (str(exc) or exc.__class__.__name__)[:2000]
            run.updated_at = utcnow()
            session.commit()
            log.warning("imports.failed", extra={"shop_id": run.shop_id, "run_id": run.id,
                                                 "error": run.error})
            raise
        log.info("imports.completed", extra={"shop_id": run.shop_id, "run_id": run.id,
                                             "created": run.created, "merged": run.merged})
        return run
    finally:
        try:
            lock.release()
        except LockError:
            pass


def _refresh_planner_statistics(session: Session) -> None:
    """ANALYZE the profile tables while an import grows them: with "empty table" statistics
    PostgreSQL looks each chunk's emails up by sequential scan (as `app.sync.backfill`)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE customers"))
        session.execute(text("ANALYZE orders"))
        session.commit()


def _apply_chunk(session: Session, run: ImportRun, chunk: list,
                 from_platform: dict[str, str] | None) -> None:
    store = ProfileStore(session, run.shop_id, history_before=HISTORY)
    store.writer.conn  # noqa: B018 - take the shop's write lock before reading the profiles
    counts = {"new": 0, "merged": 0, "unchanged": 0, "skipped": 0}
    if run.kind == CUSTOMERS:
        _customers(store, run, chunk, counts)
    else:
        _orders(store, run, chunk, counts, from_platform or {})
    store.finish()
    run.cursor += len(chunk)
    run.last_line = chunk[-1].line
    run.created += counts["new"]
    run.merged += counts["merged"]
    run.unchanged += counts["unchanged"]
    run.skipped += counts["skipped"]
    run.updated_at = utcnow()
    if "chunk_written" in checkpoints:
        checkpoints["chunk_written"](run)
    session.commit()
    if "chunk_committed" in checkpoints:
        checkpoints["chunk_committed"](run)


def _imported_fact(store: ProfileStore, run: ImportRun, customer_id: int, line: int,
                   **data: Any) -> None:
    store.timeline.add(customer_id, IMPORTED, f"import:{run.sha256[:16]}",
                       run.started_at or utcnow(),
                       {"file": run.filename, "line": line, "kind": run.kind, **data})


def _customers(store: ProfileStore, run: ImportRun, chunk: list[CustomerItem],
               counts: dict[str, int]) -> None:
    writer = store.writer
    profiles = existing_profiles(writer.conn, run.shop_id, {i.email_n for i in chunk})
    stated_at = run.started_at or utcnow()
    # The new profiles' email lookups, read in a few queries rather than one per line.
    store.prefetch([CustomerRecord(platform_id=None, email=item.email) for item in chunk
                    if item.email_n not in profiles])
    for item in chunk:
        profile = profiles.get(item.email_n)
        outcome = classify_customer(item, profile)
        if outcome == "new":
            customer_id = store.identity.customer_for_email(item.email, CustomerRecord(
                platform_id=None, email=item.email, first_name=item.first_name,
                last_name=item.last_name, phone=item.phone, city=item.city,
                country_code=item.country_code, tags=item.tags,
                email_marketing=item.consent,
                email_marketing_updated_at=(item.consent_at or stated_at) if item.consent
                else None,
                created_at=item.created_at))
        elif outcome in ("merged", "unchanged"):
            assert profile is not None
            customer_id = profile.id
            filled = fills(item, profile)
            if filled:
                writer.flush_customer_inserts()
                writer.exec(update(_C).where(_C.c.id == customer_id).values(
                    {column: func.coalesce(_C.c[column], value)
                     for column, value in filled.items()}))
            consent = consent_change(item, profile)
            if consent:
                store.apply(MarketingConsentRecord(None, item.email, consent,
                                                   item.consent_at or stated_at))
        else:
            counts["skipped"] += 1
            continue
        counts[outcome] += 1
        if customer_id is not None:
            _imported_fact(store, run, customer_id, item.line)


def order_record(item: OrderItem) -> OrderRecord:
    refunds = []
    if item.refunded > 0:
        refunds.append(RefundRecord(f"{item.platform_id}:refund", item.platform_id,
                                    item.refunded, item.placed_at, note="imported"))
    return OrderRecord(
        platform_id=item.platform_id, placed_at=item.placed_at, updated_at=None,
        currency=item.currency, total_price=item.total, email=item.email, name=item.order_id,
        subtotal=item.subtotal if item.subtotal is not None else item.total,
        total_tax=item.tax, total_discounts=item.discount, total_shipping=item.shipping,
        financial_status=item.financial_status or "paid", cancelled_at=item.cancelled_at,
        source_name="import", refunds=refunds,
        lines=[LineRecord(None, line.title, line.quantity, line.price, sku=line.sku)
               for line in item.lines])


def _orders(store: ProfileStore, run: ImportRun, chunk: list[OrderItem],
            counts: dict[str, int], from_platform: dict[str, str]) -> None:
    conn = store.writer.conn
    stored = stored_orders(conn, run.shop_id, chunk, names=False)
    stored.from_platform = from_platform
    known = existing_profiles(conn, run.shop_id, {i.email_n for i in chunk})
    applied: list[tuple[OrderItem, OrderRecord]] = []
    for item in chunk:
        outcome = classify_order(item, stored)
        if outcome in ("new", "merged"):
            applied.append((item, order_record(item)))
        elif outcome != "unchanged":
            counts["skipped"] += 1
            continue
        counts[outcome] += 1
    records = [record for _item, record in applied]
    store.prefetch(records)
    for record in records:
        store.apply(record)
    marked: set[str] = set()
    for item, _record in applied:
        if item.email_n not in known and item.email_n not in marked:
            marked.add(item.email_n)  # a profile this import created, from its first order
            customer_id = store.identity.customer_for_email(item.email, create=False)
            if customer_id is not None:
                _imported_fact(store, run, customer_id, item.line)
