"""`GET /api/messages?customer_id=&flow_id=`: the store's flow emails, newest first, in the
`message` shape of DESIGN.md (also in `GET /api/customers/<id>`)."""

from __future__ import annotations

from flask import g, jsonify, request

from app.api import bp
from app.db import db
from app.flows.history import MAX_MESSAGES, message_json, messages

DEFAULT_LIMIT = 100


def _whole(name: str, maximum: int) -> int | None | str:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= maximum:
        return f"{name}: a whole number from 1 to {maximum}"
    return int(text)


@bp.get("/messages")
def list_messages():
    values = {}
    for name, maximum in (("customer_id", 2**63 - 1), ("flow_id", 2**63 - 1),
                          ("limit", MAX_MESSAGES)):
        value = _whole(name, maximum)
        if isinstance(value, str):
            return jsonify({"status": 400, "message": value,
                            "errors": {name: value.split(": ", 1)[1]}}), 400
        values[name] = value
    rows = messages(db.session, g.shop.id, customer_id=values["customer_id"],
                    flow_id=values["flow_id"], limit=values["limit"] or DEFAULT_LIMIT)
    return jsonify({"messages": [message_json(m) for m in rows]})
