"""`/api/segments`: saved segments and the live preview (shapes in DESIGN.md).

Errors are a 400 naming each problem by its path (`rules.all.0.value`) with the reason, in
`errors`; another store's segment is a 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api import bp
from app.customers.query import merchant_tags_of
from app.customers.serialize import customer_json, iso
from app.db import db
from app.flows.segment_filters import flows_using_segment
from app.profiles.models import Customer
from app.segments import service
from app.segments.models import Segment
from app.segments.rules import RulesInvalid, count_matching, matching_ids, validate
from app.shops.models import Shop

PREVIEW_SIZE = 10
MAX_PREVIEW_SIZE = 50


def segment_json(segment: Segment, count: int | None = None) -> dict[str, Any]:
    body = {"id": segment.id, "name": segment.name, "rules": segment.rules,
            "builtin": segment.builtin, "builtin_key": segment.builtin_key,
            "created_at": iso(segment.created_at), "updated_at": iso(segment.updated_at)}
    if count is not None:
        body["count"] = count
    return body


def _invalid(errors: dict[str, str]):
    message = "; ".join(f"{path}: {why}" if path else why for path, why in errors.items())
    return jsonify({"status": 400, "message": message, "errors": errors}), 400


def _not_found(segment_id: int):
    return jsonify({"status": 404, "message": f"no segment {segment_id} in this store"}), 404


def _body() -> Any:
    return request.get_json(silent=True)


@bp.get("/segments", endpoint="list_segments")
def list_segments_route():
    shop: Shop = g.shop
    session: Session = db.session
    segments = service.list_segments(session, shop.id)
    db.session.commit()  # the built-ins, added on the store's first look
    with_counts = request.args.get("counts", "yes") != "no"
    return jsonify({"segments": [
        segment_json(s, count_matching(session, shop, s.rules) if with_counts else None)
        for s in segments]})


@bp.post("/segments")
def create_segment_route():
    session: Session = db.session
    service.ensure_builtins(session, g.shop.id)
    try:
        segment = service.create_segment(session, g.shop, _body())
    except service.SegmentInvalid as exc:
        session.rollback()
        return _invalid(exc.errors)
    session.commit()
    return jsonify(segment_json(segment, count_matching(session, g.shop, segment.rules))), 201


@bp.get("/segments/<int:segment_id>")
def get_segment_route(segment_id: int):
    session: Session = db.session
    service.ensure_builtins(session, g.shop.id)
    session.commit()
    segment = service.get_segment(session, g.shop.id, segment_id)
    if segment is None:
        return _not_found(segment_id)
    return jsonify(segment_json(segment, count_matching(session, g.shop, segment.rules)))


@bp.put("/segments/<int:segment_id>")
def update_segment_route(segment_id: int):
    session: Session = db.session
    segment = service.get_segment(session, g.shop.id, segment_id)
    if segment is None:
        return _not_found(segment_id)
    try:
        service.update_segment(session, segment, _body())
    except service.SegmentInvalid as exc:
        session.rollback()
        return _invalid(exc.errors)
    session.commit()
    return jsonify(segment_json(segment, count_matching(session, g.shop, segment.rules)))


@bp.delete("/segments/<int:segment_id>")
def delete_segment_route(segment_id: int):
    session: Session = db.session
    segment = service.get_segment(session, g.shop.id, segment_id)
    if segment is None:
        return _not_found(segment_id)
    if segment.builtin:
        return jsonify({"status": 409, "message": "built-in segments cannot be deleted"}), 409
    users = flows_using_segment(session, g.shop.id, segment.id)
    if users:
        return jsonify({"status": 409, "message": "flows filter on this segment: "
                        + ", ".join(users) + "; change their filters first",
                        "flows": users}), 409
    service.delete_segment(session, segment)
    session.commit()
    return "", 204


def preview(session: Session, shop: Shop, rules: Any, size: int = PREVIEW_SIZE
            ) -> dict[str, Any]:
    """{"count", "customers": [C...]} of valid rules: the first `size` matches, latest
    buyers first."""
    ids = matching_ids(session, shop, rules, limit=size)
    rows = {c.id: c for c in session.execute(
        select(Customer).where(Customer.shop_id == shop.id, Customer.id.in_(ids))).scalars()}
    tags = merchant_tags_of(session, shop.id, ids)
    return {"count": count_matching(session, shop, rules),
            "customers": [customer_json(rows[i], shop, tags.get(i, [])) for i in ids
                          if i in rows]}


@bp.post("/segments/preview")
def preview_segment_route():
    body = _body()
    if not isinstance(body, dict) or "rules" not in body:
        return _invalid({"rules": 'send a JSON object like {"rules": {"all": [...]}}'})
    rules, errors = validate(body["rules"])
    if errors:
        return _invalid(errors)
    size = body.get("limit", PREVIEW_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_PREVIEW_SIZE:
        return _invalid({"limit": f"must be a whole number from 0 to {MAX_PREVIEW_SIZE}"})
    try:
        return jsonify(preview(db.session, g.shop, rules, size))
    except RulesInvalid as exc:  # pragma: no cover - validated above
        return _invalid(exc.errors)
