"""The panel's JSON API (`/api/...`), described by `/api/openapi.json`."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.api import (  # noqa: E402,F401  (routes register on import)
    cohorts,
    compliance,
    customers,
    flow_reports,
    flows,
    loyalty,
    loyalty_points,
    messages,
    metrics,
    openapi,
    predictions,
    redemptions,
    referrals,
    segments,
    settings,
    sync,  # noqa: E402,F401
)
from app.api.auth import require_shop  # noqa: E402


@bp.before_request
def refuse_nul_in_query():
    """400 for a query parameter holding NUL (PostgreSQL text cannot), before any query."""
    from flask import jsonify, request

    from app.routing import field_with_nul

    name = field_with_nul(request.args)
    if name is not None:
        return jsonify({"status": 400, "message": f"query parameter {name!r} contains a NUL "
                                                  "character"}), 400
    return None


bp.before_request(require_shop)
