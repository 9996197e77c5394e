"""Starting an import: read and validate a file, plan it (the dry run), keep it as a run.

    prepared = prepare(session, shop, "customers", content, overrides)   # may raise ImportError_
    run = create_run(session, shop, prepared, filename="klaviyo.csv")     # status "planned"

`items_of(run)` reads a stored run's file again with the mapping fixed on it: the same items
in the same order every time (what makes a resume exact).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.imports import mapping as mappings
from app.imports import validate
from app.imports.models import CUSTOMERS, KINDS, UNFINISHED, ImportRun
from app.imports.planning import plan
from app.imports.reading import ReadError, Table, read_table
from app.settings.timezone import shop_zone, zone_or_none
from app.shops.models import Shop

# The largest file accepted (the panel's upload and the CLI alike): the file is kept in the
# database so that any worker can resume the run.
MAX_BYTES = 50 * 1024 * 1024


class ImportFileError(ValueError):
    """The file or its mapping cannot be imported; the message says why and what to do."""


@dataclass
class Prepared:
    kind: str
    content: bytes
    sha256: str
    table: Table
    columns: dict[str, str]
    zone: str
    currency: str
    validated: validate.Validated
    report: dict[str, Any]

    @property
    def settings(self) -> dict[str, Any]:
        return {"columns": self.columns, "timezone": self.zone, "currency": self.currency}


def read(content: bytes) -> Table:
    if len(content) > MAX_BYTES:
        raise ImportFileError(f"the file is {len(content) / 1048576:.1f} MB; the limit is "
                              f"{MAX_BYTES // 1048576} MB: split it into smaller files")
    try:
        table = read_table(content)
    except ReadError as exc:
        raise ImportFileError(str(exc)) from exc
    if not table.rows:
        raise ImportFileError("the file has a header but no rows")
    return table


def validated_items(kind: str, table: Table, columns: dict[str, str], zone_name: str,
                    currency: str) -> validate.Validated:
    zone = zone_or_none(zone_name) or ZoneInfo("UTC")
    if kind == CUSTOMERS:
        return validate.customers(table, columns, zone)
    return validate.orders(table, columns, zone, currency)


def prepare(session: Session, shop: Shop, kind: str, content: bytes,
            overrides: dict[str, str] | None = None,
            columns: dict[str, str] | None = None, *,
            allow_incomplete: bool = False) -> Prepared:
    """Read, map (the guess with `overrides`, or exactly `columns`), validate and plan.

    `allow_incomplete`: a mapping without a required field is kept rather than refused (the
    panel lets the merchant complete it); nothing is validated then, and the report's
    `mapping_problem` says what is missing."""
    if kind not in KINDS:
        raise ImportFileError(f"unknown import kind {kind!r} (customers or orders)")
    table = read(content)
    problem = None
    try:
        if columns is not None:
            columns = {c: f for c, f in columns.items() if c in table.header and f}
            mappings.check(kind, columns)
        else:
            columns = mappings.resolve(kind, table.header, overrides)
    except mappings.MappingError as exc:
        if not allow_incomplete or "more than one" in str(exc):
            raise ImportFileError(str(exc)) from exc
        problem = str(exc)
        if columns is None:
            columns = mappings.guess(kind, table.header)
    zone = shop_zone(session, shop).key
    if problem is None:
        checked = validated_items(kind, table, columns, zone, shop.currency)
    else:
        checked = validate.Validated([], [], [], [])
    report = plan(session.connection(), shop.id, kind, table, columns, checked)
    report["mapping_problem"] = problem
    session.commit()  # end the read (SQLite: before any other connection writes)
    return Prepared(kind, content, hashlib.sha256(content).hexdigest(), table, columns, zone,
                    shop.currency, checked, report)


def create_run(session: Session, shop: Shop, prepared: Prepared,
               filename: str | None = None) -> ImportRun:
    """Keep the planned import (file, mapping, report) as a run; commits."""
    report = dict(prepared.report, filename=filename)
    run = ImportRun(shop_id=shop.id, kind=prepared.kind, filename=(filename or "")[:255] or None,
                    sha256=prepared.sha256, content=prepared.content,
                    mapping=prepared.settings, status="planned",
                    total=len(prepared.validated.items), cursor=0, created=0, merged=0,
                    unchanged=0, skipped=0, report=report)
    session.add(run)
    session.commit()
    return run


def items_of(run: ImportRun) -> validate.Validated:
    settings = run.mapping
    return validated_items(run.kind, read(run.content), settings["columns"],
                           settings["timezone"], settings["currency"])


def unfinished_run(session: Session, shop_id: int, kind: str, sha256: str | None = None
                   ) -> ImportRun | None:
    """The shop's newest started-but-unfinished run of `kind` (of this file, if given)."""
    query = (select(ImportRun).where(ImportRun.shop_id == shop_id, ImportRun.kind == kind,
                                     ImportRun.status.in_(UNFINISHED))
             .order_by(ImportRun.id.desc()).limit(1))
    if sha256:
        query = query.where(ImportRun.sha256 == sha256)
    return session.execute(query).scalar_one_or_none()


def get_run(session: Session, shop_id: int, run_id: int) -> ImportRun | None:
    return session.execute(select(ImportRun).where(ImportRun.id == run_id,
                                                   ImportRun.shop_id == shop_id)
                           ).scalar_one_or_none()


def progress_json(run: ImportRun) -> dict[str, Any]:
    """The panel's progress endpoint's shape."""
    def iso(value):
        return value.isoformat().replace("+00:00", "Z") if value else None

    return {"id": run.id, "kind": run.kind, "status": run.status, "total": run.total,
            "done": run.cursor, "created": run.created, "merged": run.merged,
            "unchanged": run.unchanged, "skipped": run.skipped, "error": run.error,
            "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
            "updated_at": iso(run.updated_at or utcnow())}


IMPORT_JOB = "jobs.imports.run_import"
JOB_TIMEOUT_SECONDS = 6 * 3600


def queue_run(session: Session, run: ImportRun) -> bool:
    """Mark the run queued and ask a worker to apply (or resume) it; False when Redis cannot
    be reached (the run stays as it was, `flask --app app import` can apply it by hand)."""
    from redis.exceptions import RedisError
    from rq import Retry

    from app.imports.models import QUEUED
    from app.queue import get_queue

    previous = run.status
    run.status, run.error, run.updated_at = QUEUED, None, utcnow()
    session.commit()  # the job must see its row: enqueued after the commit
    try:
        get_queue("default").enqueue(IMPORT_JOB, run.id, job_timeout=JOB_TIMEOUT_SECONDS,
                                     retry=Retry(max=3, interval=[30, 120, 600]),
                                     result_ttl=86400)
        return True
    except RedisError:
        run.status = previous
        session.commit()
        return False


def recent_runs(session: Session, shop_id: int, limit: int = 10) -> list[ImportRun]:
    return list(session.execute(select(ImportRun).where(ImportRun.shop_id == shop_id)
                                .order_by(ImportRun.id.desc()).limit(limit)).scalars())


def replan(session: Session, shop: Shop, run: ImportRun, columns: dict[str, str]) -> Prepared:
    """Plan a planned run again with the merchant's chosen columns; keeps it on the run."""
    prepared = prepare(session, shop, run.kind, run.content, columns=columns,
                       allow_incomplete=True)
    run.mapping = prepared.settings
    run.report = dict(prepared.report, filename=run.filename)
    run.total = len(prepared.validated.items)
    run.updated_at = utcnow()
    session.commit()
    return prepared
