"""What every panel page shares: the navigation, template helpers, the charting library's
script, and the page for an expired form. (Other errors on `/admin` addresses are pages too:
`app._panel_error_page`.)"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from flask import g, redirect, render_template, request, send_file
from flask_wtf.csrf import CSRFError

from app.panel import bp
from app.panel.door import panel_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    icon: str  # a name in templates/components/icons.html


# The panel's sections, in the order of the Shopify admin's left nav. A section appears here
# only once its page exists (Segments and Analytics join as they are built).
NAV: tuple[NavItem, ...] = (
    NavItem("Dashboard", "panel.dashboard", "home"),
    NavItem("Customers", "panel.customers", "person"),
    NavItem("Segments", "panel.segments", "segment"),
    NavItem("Loyalty", "panel.loyalty", "gift"),
    NavItem("Flows", "panel.flows", "mail"),
    NavItem("Analytics", "panel.analytics", "analytics"),
    NavItem("Settings", "panel.settings", "gear"),
)


@bp.app_context_processor
def panel_helpers():
    return {"panel_url": panel_url, "panel_nav": NAV, "plotly_url": plotly_url,
            "panel": g.get("panel"), "shop": g.get("shop")}


@bp.app_template_global()
def panel_is_embedded() -> bool:
    """For macros, which see globals but not the page's context unless imported with it."""
    panel = g.get("panel")
    return bool(panel and panel.embedded)


@functools.cache
def _plotly_version() -> str:
    return version("plotly")  # reads the installed package's metadata: once per process


def plotly_url() -> str:
    # The version in the URL lets browsers cache the 4 MB file for a year and still pick up
    # an upgrade at once.
    return panel_url("panel.plotly_js", v=_plotly_version())


@bp.get("/")
def root():
    """The app's address opens the panel (keeping Shopify's query: shop, host, id_token)."""
    query = request.query_string.decode()
    return redirect("/admin" + (f"?{query}" if query else ""))


@bp.get("/assets/plotly.min.js")
def plotly_js():
    """plotly.js as the `plotly` Python package ships it: charts work with no CDN and no
    Node.js build step (README: "Charts")."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return send_file(path, mimetype="text/javascript", max_age=365 * 24 * 3600)


@bp.errorhandler(CSRFError)
def csrf_failed(exc: CSRFError):
    log.info("panel.csrf_failed", extra={"reason": exc.description, "path": request.path})
    return render_template(
        "panel/refused.html", title="This form has expired", reason=exc.description,
        advice="Forms stop working when the page was opened in another session or too long "
               "ago. Go back, reload the page and try again."), 400
