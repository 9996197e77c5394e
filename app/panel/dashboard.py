"""`/admin`: the dashboard."""

from __future__ import annotations

from flask import g, render_template

from app.db import db
from app.panel import bp
from app.panel.door import panel_page
from app.sync.backfill import latest_run, run_json


@bp.get("/admin")
@panel_page
def dashboard():
    backfill = run_json(latest_run(db.session, g.shop.id))
    return render_template("panel/dashboard.html", backfill=backfill)
