"""`/admin/settings`."""

from __future__ import annotations

from flask import render_template

from app.panel import bp
from app.panel.door import panel_page


@bp.get("/admin/settings")
@panel_page
def settings():
    return render_template("panel/settings.html")
