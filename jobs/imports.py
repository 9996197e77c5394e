"""Migration import jobs. Jobs take ids, never objects.

- `run_import(run_id)`: apply (or resume) a planned CSV import (app/imports/apply.py). Safe to
  run twice: a completed run returns at once, an unfinished one resumes after its last
  committed chunk. While another process holds the shop's import lock the job raises, and
  RQ's retry tries again later (a dead importer's lock expires within minutes).
"""

from __future__ import annotations

import logging

from app.db import db
from app.imports import apply
from jobs.context import app_context

log = logging.getLogger(__name__)


def run_import(run_id: int) -> dict:
    with app_context():
        with db.new_session() as session:
            try:
                run = apply.run_import(session, run_id)
            except LookupError as exc:
                log.info("imports.skipped", extra={"run_id": run_id, "reason": str(exc)})
                return {"run_id": run_id, "skipped": str(exc)}
            return {"run_id": run.id, "status": run.status, "created": run.created,
                    "merged": run.merged, "unchanged": run.unchanged}
