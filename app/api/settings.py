"""`GET /api/settings` and `PUT /api/settings`: the store's sender identity, time zone and
sending policy (shape fixed in DESIGN.md; rules in app/settings/service.py)."""

from __future__ import annotations

import orjson
from flask import g, jsonify, request

from app.api import bp
from app.db import db
from app.settings.service import SettingsInvalid, read_settings, update_settings


@bp.get("/settings")
def get_settings():
    return jsonify(read_settings(db.session, g.shop).as_json())


@bp.put("/settings")
def put_settings():
    """A partial object: the fields it holds change, the others keep their values. Any
    unknown field or wrong value is a 400 naming it, and then nothing changes."""
    try:
        # orjson: a body nested past its limit is a decode error, not a RecursionError (500).
        changes = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        return jsonify({"status": 400, "message": "body: send the changed settings as a JSON "
                                                  "object, e.g. {\"smart_sending_hours\": 24}",
                        "errors": {"body": "is not JSON"}}), 400
    try:
        settings = update_settings(db.session, g.shop, changes)
    except SettingsInvalid as exc:
        db.session.rollback()
        return jsonify({"status": 400, "message": str(exc), "errors": exc.errors}), 400
    return jsonify(settings.as_json())
