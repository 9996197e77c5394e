"""`GET /api/backfill`: the progress of the store's history import."""

from __future__ import annotations

from flask import g, jsonify

from app.api import bp
from app.db import db
from app.sync.backfill import latest_run, run_json


@bp.get("/backfill")
def backfill_status():
    """{"status": "none"|"queued"|"running"|"completed"|"failed", "processed", "total",
    "started_at", "finished_at", "error"} for the newest backfill run of the caller's store."""
    return jsonify(run_json(latest_run(db.session, g.shop.id)))
