"""Sticky: a retention app for Shopify and WooCommerce stores.

`flask --app app ...` finds `create_app` here. Importing this package has no side effects.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.config import load_settings
from app.db import db
from app.routing import IdConverter

log = logging.getLogger(__name__)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    config = dict(config or {})
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates",
                static_folder="../static",
                instance_path=config.pop("INSTANCE_PATH", None))
    app.config.update(load_settings(app.instance_path))
    if config:
        app.config.update(config)
        if "DATABASE_URL" in config:
            from app.config import normalize_database_url

            app.config["DATABASE_URL"] = normalize_database_url(config["DATABASE_URL"])
    app.json.sort_keys = False
    app.jinja_env.add_extension("jinja2.ext.do")  # the panel's macros build lists in place
    # Before any blueprint adds a route: every `<int:...>` is bounded to what an id can be.
    app.url_map.converters["int"] = IdConverter

    db.init_app(app)
    _import_models()
    from app.events.registry import init_app as init_events
    from app.subscribers import SUBSCRIBERS

    init_events(app, SUBSCRIBERS)  # the domain-event subscribers of app/subscribers.py, by name

    _register_blueprints(app)
    from app.accounts import init_app as init_accounts

    init_accounts(app)  # standalone panel sign-in; CSRF + rate limiting (opt-in, see there)

    from app.cli import register_commands

    register_commands(app)
    _register_error_handlers(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from app.api import bp as api_bp
    from app.flows.survey_views import bp as flow_survey_bp
    from app.flows.tracking_views import bp as email_tracking_bp
    from app.health import bp as health_bp
    from app.loyalty.referral_views import bp as referral_landing_bp
    from app.panel import bp as panel_bp
    from app.shopify.install import bp as shopify_install_bp
    from app.storefront import bp as storefront_bp
    from app.woocommerce.views import bp as woocommerce_connect_bp

    for blueprint in (*_plugged_in_blueprints(), shopify_install_bp, woocommerce_connect_bp,
                      panel_bp, api_bp, health_bp, storefront_bp,
                      referral_landing_bp, flow_survey_bp, email_tracking_bp):
        app.register_blueprint(blueprint)


# The webhook receivers sit above the domain (DESIGN.md: webhooks → jobs → app → connectors),
# so they plug in by name, as entry points declared in pyproject.toml, and app/ never imports
# webhooks/. pyproject.toml is where the packages are put together.
BLUEPRINT_ENTRY_POINTS = "sticky.blueprints"


def _plugged_in_blueprints() -> list[Blueprint]:
    found = sorted(entry_points(group=BLUEPRINT_ENTRY_POINTS), key=lambda point: point.name)
    if not found:
        # Without them Sticky would answer every webhook 404, and platforms give up on it.
        raise RuntimeError(f"no {BLUEPRINT_ENTRY_POINTS!r} entry points: Sticky is not "
                           "installed; run `pip install -e .` (./dev does it)")
    return [point.load() for point in found]


def _import_models() -> None:
    # Every mapped class must be imported before relationships or metadata are used.
    import app.accounts.models  # noqa: F401
    import app.analytics.rfm_models  # noqa: F401
    import app.compliance.models  # noqa: F401
    import app.customers.models  # noqa: F401
    import app.events.models  # noqa: F401
    import app.flows.models  # noqa: F401
    import app.imports.models  # noqa: F401
    import app.inbox.models  # noqa: F401
    import app.loyalty.models  # noqa: F401
    import app.predictions.models  # noqa: F401
    import app.profiles.models  # noqa: F401
    import app.segments.models  # noqa: F401
    import app.settings.models  # noqa: F401
    import app.shops.models  # noqa: F401
    import app.sync.models  # noqa: F401
    import app.woocommerce.models  # noqa: F401


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        # The sender (Shopify, WooCommerce) retries on 5xx: nothing is lost.
        log.error("database.unavailable", exc_info=exc)
        return jsonify({"status": 503, "message": "database unavailable; retry later"}), 503

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path == "/admin" or request.path.startswith("/admin/"):
            return _panel_error_page(exc)
        return jsonify({"status": exc.code, "message": exc.description}), exc.code


def _panel_error_page(exc: HTTPException):
    """A panel address answers with a page a merchant can read, never JSON or a bare 500.
    An unexpected error gets a reference that is also in the log line written here."""
    import secrets

    from flask import render_template

    reference = None
    if (exc.code or 500) >= 500:
        reference = secrets.token_hex(4)
        log.error("panel.error", exc_info=getattr(exc, "original_exception", None) or exc,
                  extra={"reference": reference, "path": request.path})
    titles = {404: "This page does not exist", 405: "Not allowed here",
              500: "Something went wrong on our side"}
    reason = exc.description if (exc.code or 500) < 500 else (
        f"Sticky could not show this page. The error is logged with reference {reference}.")
    advice = ("Try again in a moment. If it keeps happening, send the reference to whoever "
              "runs Sticky." if reference else None)
    return render_template("panel/refused.html", title=titles.get(exc.code or 500, exc.name),
                           reason=reason, advice=advice), exc.code
