"""The panel's JSON API (`/api/...`), described by `/api/openapi.json`."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")

from app.api import (  # noqa: E402,F401  (routes register on import)
    compliance,
    customers,
    openapi,
    sync,  # noqa: E402,F401
)
from app.api.auth import require_shop  # noqa: E402

bp.before_request(require_shop)
