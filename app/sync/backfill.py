"""The platform-neutral history backfill runner.

    run = run_backfill(session, shop_id)                 # resume the shop's run, or start one
    run = run_backfill(session, shop_id, restart=True)   # start over from the beginning

It asks the shop's platform for a BackfillSource (connectors/sources.py; app/sync/sources.py
builds it for the shop) and applies each Page in ONE transaction through the profile store,
saving the page's cursor and the processed count in that same transaction. So a run killed at
any moment resumes after the last committed page: nothing is skipped and no page's progress is
counted twice. Records carry the platform's `updated_at`, and the store never lets an older
version overwrite a newer one, so a backfill racing live webhooks ends with the newest data.

One run at a time per shop (a Redis lock, renewed after every page). Progress lives in
`backfill_runs` (the newest row per shop), which `GET /api/backfill` reports.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import LockError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.db import utcnow
from app.profiles.figures import refresh_all_customer_figures
from app.queue import get_redis
from app.shops.models import Shop
from app.shops.outbound import PLATFORM_NAMES, outbound_allowed
from app.sync.apply import apply_batch
from app.sync.models import COMPLETED, FAILED, QUEUED, RUNNING, BackfillRun
from app.sync.sources import backfill_source_for
from connectors.sources import BackfillSource, Page

log = logging.getLogger(__name__)

# A run that crashed keeps the lock this long; every page renews it.
LOCK_SECONDS = 300
ERROR_LIMIT = 2000


class BackfillError(Exception):
    """A backfill cannot start; the message says why and what to do."""


class BackfillBusy(BackfillError):
    """Another process is running this shop's backfill."""


def latest_run(session: Session, shop_id: int) -> BackfillRun | None:
    return session.execute(
        select(BackfillRun).where(BackfillRun.shop_id == shop_id)
        .order_by(BackfillRun.id.desc()).limit(1)
    ).scalar_one_or_none()


def run_json(run: BackfillRun | None) -> dict[str, Any]:
    """The `GET /api/backfill` shape."""
    def iso(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    if run is None:
        return {"status": "none", "processed": 0, "total": None, "started_at": None,
                "finished_at": None, "error": None}
    return {"status": run.status, "processed": run.processed, "total": run.total,
            "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
            "error": run.error}


def _active_shop(session: Session, shop_id: int) -> Shop:
    shop = session.get(Shop, shop_id)
    if shop is None:
        raise BackfillError(f"there is no store with id {shop_id}")
    if shop.status != "active":
        raise BackfillError(f"store {shop.domain} is {shop.status}; reconnect it before "
                            "importing its history")
    if not outbound_allowed(shop):
        raise BackfillError(f"store {shop.domain} is the local demo store: its history is "
                            "seeded by `flask --app app demo`, never imported from "
                            f"{PLATFORM_NAMES.get(shop.platform, shop.platform)}")
    return shop


def queue_backfill(session: Session, shop: Shop) -> BackfillRun:
    """Record that a backfill is wanted (status "queued") unless one is already pending.
    A failed run is queued again: the job resumes it after its last committed page.

    Commits. Call before enqueueing `jobs.sync.run_backfill`, so the panel shows "queued".
    """
    run = latest_run(session, shop.id)
    if run is None or run.status == COMPLETED:
        run = BackfillRun(shop_id=shop.id, platform=shop.platform, status=QUEUED, processed=0)
        session.add(run)
        session.commit()
    elif run.status == FAILED:
        run.status = QUEUED
        run.updated_at = utcnow()
        session.commit()
    return run


def why_no_import(shop: Shop, run: BackfillRun | None) -> str | None:
    """Why a history import cannot be started for the store now, or None when it can."""
    platform = PLATFORM_NAMES.get(shop.platform, shop.platform)
    if not outbound_allowed(shop):
        return (f"This is the local demo store: its history was seeded by the demo, and "
                f"Sticky never calls {platform} for it, so there is nothing to import.")
    if shop.status != "active":
        return (f"The store is {shop.status}: reconnect it to {platform} before importing its "
                "history.")
    if run is not None and run.status in (QUEUED, RUNNING):
        return f"An import is already {run.status}."
    return None


def _claim_run(session: Session, shop: Shop, restart: bool) -> BackfillRun:
    run = latest_run(session, shop.id)
    now = utcnow()
    if restart or run is None or run.status == COMPLETED:
        if run is not None and run.status != COMPLETED:
            run.status, run.error, run.finished_at = FAILED, "superseded by a restart", now
        run = BackfillRun(shop_id=shop.id, platform=shop.platform, processed=0)
        session.add(run)
    run.status = RUNNING
    run.error = None
    run.finished_at = None
    run.started_at = run.started_at or now
    run.updated_at = now
    session.commit()
    return run


def run_backfill(session: Session, shop_id: int, *, restart: bool = False,
                 resume_only: bool = False,
                 source: BackfillSource | None = None,
                 on_progress: Callable[[BackfillRun, Page], None] | None = None) -> BackfillRun:
    """Import (or resume importing) a shop's history; return its finished run.

    Raises BackfillError when the shop is unknown, not active, or already being backfilled
    (or, with `resume_only`, has no unfinished run).
    Any failure while importing is recorded on the run (status "failed", error) and
    re-raised; running again resumes from the last committed page.
    """
    shop = _active_shop(session, shop_id)
    lock = get_redis().lock(f"sticky:backfill:{shop_id}", timeout=LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        raise BackfillBusy(f"a backfill of {shop.domain} is already running (a stopped one "
                           f"holds the lock for up to {LOCK_SECONDS // 60} minutes)")
    try:
        if resume_only:
            latest = latest_run(session, shop_id)
            if latest is None or latest.status == COMPLETED:
                raise BackfillError(f"{shop.domain} has no unfinished backfill to resume")
        run = _claim_run(session, shop, restart)
        log.info("sync.backfill.started", extra={"shop_id": shop_id, "run_id": run.id,
                                                 "resume": bool(run.cursor)})
        try:
            _import(session, shop, run, source, on_progress, lock)
        except BaseException as exc:
            session.rollback()
            run.status = FAILED
            run.error = (str(exc) or exc.__class__.__name__)[:ERROR_LIMIT]
            run.finished_at = utcnow()
            run.updated_at = run.finished_at
            session.commit()
            log.warning("sync.backfill.failed", extra={"shop_id": shop_id, "run_id": run.id,
                                                       "error": run.error})
            raise
        return run
    finally:
        try:
            lock.release()
        except LockError:  # expired meanwhile; nothing to release
            pass


# Tables the per-page lookups and the final figures pass are planned against; the import
# ends with all of them sampled.
LOOKUP_TABLES = ("customers", "orders")
PROFILE_TABLES = (*LOOKUP_TABLES, "order_lines", "timeline_events")


def _refresh_planner_statistics(session: Session,
                                tables: tuple[str, ...] = LOOKUP_TABLES) -> None:
    """ANALYZE the profile tables while a bulk import grows them.

    A store's first import takes its tables from empty to millions of rows far faster than
    autovacuum re-samples them; with "empty table" statistics PostgreSQL plans the per-page
    lookups and the final figures pass as sequential scans. Doubling intervals keep the cost
    logarithmic in the import's length.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        session.execute(text(f"ANALYZE {table}"))
    session.commit()


# A full collection every this many pages (see _paced_collection).
FULL_COLLECTION_PAGES = 32


@contextmanager
def _paced_collection() -> Iterator[Callable[[int], None]]:
    """Run Python's cyclic garbage collector between pages rather than while parsing.

    An import allocates millions of short-lived containers (parsed JSON, records, row dicts).
    Left automatic, the collector keeps firing mid-page and, as the pages' objects age,
    re-scans the whole heap: measured at a third of the import's time. Nearly everything a
    page allocates is freed by reference counting anyway, so the collector is paused for the
    import and run after each page instead: the young generations every page (cheap: only the
    survivors are left to scan), the whole heap every FULL_COLLECTION_PAGES pages, which keeps
    memory flat.
    """
    was_enabled = gc.isenabled()
    gc.disable()

    def after_page(pages_done: int) -> None:
        gc.collect(2 if pages_done % FULL_COLLECTION_PAGES == 0 else 1)

    try:
        yield after_page
    finally:
        if was_enabled:
            gc.enable()


def _import(session: Session, shop: Shop, run: BackfillRun, source: BackfillSource | None,
            on_progress, lock) -> None:
    source = source if source is not None else backfill_source_for(session, shop)
    if run.total is None:
        run.total = source.total()
        session.commit()
    with _paced_collection() as after_page:
        _import_pages(session, shop, run, source, on_progress, lock, after_page)
    _refresh_planner_statistics(session, PROFILE_TABLES)
    # Pages left customer figures alone (a customer's orders span many pages): one pass now,
    # a transaction per chunk. Webhooks meanwhile keep their own customers' figures right.
    refresh_all_customer_figures(session, shop.id, progress=lambda _n: session.commit())
    now = utcnow()
    run.status = COMPLETED
    run.finished_at = now
    run.updated_at = now
    # Reconciliation takes over from when this import began: anything changed since then
    # is re-read by it (and by webhooks), so nothing falls between the two.
    if shop.last_synced_at is None or shop.last_synced_at < run.started_at:
        shop.last_synced_at = run.started_at
    session.commit()
    log.info("sync.backfill.completed", extra={"shop_id": shop.id, "run_id": run.id,
                                               "processed": run.processed})


class _Lookahead:
    """The source's pages, of which the next one may be read early, while PostgreSQL is busy.

    Reading a page (download, parse, map) is Python work; inserting the previous one is
    PostgreSQL's. The profile store calls `read_next` once its biggest write is sent, so the
    two overlap on two cores, in one thread (no GIL contention). At most one page is read
    ahead. An error while reading early is raised when that page is asked for, not inside the
    page being written, which commits as usual.
    """

    def __init__(self, source: BackfillSource, pages: Iterator[Page]) -> None:
        self._source = source
        self._pages = pages
        self._next: tuple[Page, str | None, str | None] | None = None
        # The source's bulk operation and result file as they were when the current page was
        # read (reading ahead may already have moved the source on to its next stage).
        self.operation_id: str | None = None
        self.result_url: str | None = None
        self._error: Exception | None = None
        self._done = False

    def read_next(self) -> None:
        if self._next is not None or self._done or self._error is not None:
            return
        try:
            page = next(self._pages)
            self._next = (page, getattr(self._source, "operation_id", None),
                          getattr(self._source, "result_url", None))
        except StopIteration:
            self._done = True
        except Exception as exc:  # raised in order, by __iter__
            self._error = exc

    def __iter__(self) -> Iterator[Page]:
        while True:
            self.read_next()
            if self._next is not None:
                (page, self.operation_id, self.result_url), self._next = self._next, None
                yield page
            elif self._error is not None:
                error, self._error = self._error, None
                raise error
            else:
                return


def _import_pages(session: Session, shop: Shop, run: BackfillRun, source: BackfillSource,
                  on_progress, lock, after_page: Callable[[int], None]) -> None:
    pages_done = 0
    pages = _Lookahead(source, source.pages(run.cursor))
    for page in pages:
        def record_progress(page: Page = page) -> None:
            run.cursor = page.cursor
            run.processed = (run.processed or 0) + page.units
            run.bulk_operation_id = pages.operation_id or run.bulk_operation_id
            run.result_url = pages.result_url or run.result_url
            run.updated_at = utcnow()

        # Facts from before the install are history: recorded, not published (no points or
        # emails for past orders). Later ones are news whichever path records them first.
        apply_batch(session, shop.id, page.records, then=record_progress, defer_figures=True,
                    history_before=shop.installed_at, while_writing=pages.read_next)
        lock.reacquire()
        pages_done += 1
        if pages_done & (pages_done - 1) == 0:  # pages 1, 2, 4, 8, ...
            _refresh_planner_statistics(session)
        if on_progress is not None:
            on_progress(run, page)
        after_page(pages_done)
