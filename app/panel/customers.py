"""`/admin/customers` and `/admin/customers/<id>`."""

from __future__ import annotations

from flask import render_template

from app.panel import bp
from app.panel.door import panel_page


@bp.get("/admin/customers")
@panel_page
def customers():
    return render_template("panel/customers.html")
