"""Saved segments: create, change, delete, and the built-in RFM segments.

The built-ins are one segment per RFM group (`rfm_segment = X`), added to a store the first
time its segments are listed; they cannot be changed or deleted. Their names start with
"RFM: ", which merchants' own segments may not use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.segments.models import NAME_MAX, Segment
from app.segments.rules import RFM_SEGMENTS, validate
from app.shops.models import Shop

BUILTIN_PREFIX = "RFM: "
MAX_SEGMENTS = 500


class SegmentInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{path}: {why}" for path, why in errors.items()))
        self.errors = errors


def builtin_definitions() -> list[dict[str, Any]]:
    return [{"builtin_key": f"rfm:{name}", "name": f"{BUILTIN_PREFIX}{name}",
             "rules": {"all": [{"field": "rfm_segment", "op": "eq", "value": name}]}}
            for name in RFM_SEGMENTS]


def ensure_builtins(session: Session, shop_id: int) -> None:
    """Add the store's missing built-in segments (once; safe to run at the same time)."""
    have = set(session.execute(select(Segment.builtin_key).where(
        Segment.shop_id == shop_id, Segment.builtin_key.is_not(None))).scalars())
    now = utcnow()
    for spec in builtin_definitions():
        if spec["builtin_key"] not in have:
            session.execute(insert_for(session, Segment).values(
                shop_id=shop_id, created_at=now, updated_at=now, **spec
            ).on_conflict_do_nothing())


def list_segments(session: Session, shop_id: int) -> list[Segment]:
    """The store's segments: its own by name, then the built-ins in RFM order."""
    ensure_builtins(session, shop_id)
    return saved_segments(session, shop_id)


def saved_segments(session: Session, shop_id: int) -> list[Segment]:
    """The store's segments as they are (read only: no built-ins added), in list order."""
    order = {f"rfm:{name}": i for i, name in enumerate(RFM_SEGMENTS)}
    found = session.execute(select(Segment).where(Segment.shop_id == shop_id)).scalars()
    return sorted(found, key=lambda s: (s.builtin, order.get(s.builtin_key or "", 0),
                                        s.name.lower(), s.id))


def get_segment(session: Session, shop_id: int, segment_id: int) -> Segment | None:
    return session.execute(select(Segment).where(
        Segment.shop_id == shop_id, Segment.id == segment_id)).scalar_one_or_none()


def check_fields(session: Session, shop_id: int, data: Any,
                 segment: Segment | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """{name, rules} in stored form and {field or rule path: why} for each mistake."""
    if not isinstance(data, dict):
        return {}, {"": "send a JSON object: {\"name\": ..., \"rules\": ...}"}
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    name = data.get("name", segment.name if segment else None)
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Enter a name."
    elif len(name.strip()) > NAME_MAX:
        errors["name"] = f"Use at most {NAME_MAX} characters."
    elif name.strip().startswith(BUILTIN_PREFIX):
        errors["name"] = f"Names starting with “{BUILTIN_PREFIX}” are kept for built-ins."
    else:
        values["name"] = name.strip()
        clash = select(Segment.id).where(Segment.shop_id == shop_id,
                                         func.lower(Segment.name) == values["name"].lower())
        if segment is not None:
            clash = clash.where(Segment.id != segment.id)
        if session.execute(clash.limit(1)).first() is not None:
            errors["name"] = "Another segment has this name."
    if "rules" in data or segment is None:
        rules, rule_errors = validate(data.get("rules", {"all": []}))
        errors.update(rule_errors)
        values["rules"] = rules
    return values, errors


def create_segment(session: Session, shop: Shop, data: Any) -> Segment:
    values, errors = check_fields(session, shop.id, data)
    count = session.execute(select(func.count()).select_from(Segment)
                            .where(Segment.shop_id == shop.id)).scalar_one()
    if count >= MAX_SEGMENTS + len(RFM_SEGMENTS):
        errors.setdefault("name", f"A store keeps at most {MAX_SEGMENTS} segments.")
    if errors:
        raise SegmentInvalid(errors)
    segment = Segment(shop_id=shop.id, name=values["name"], rules=values["rules"])
    session.add(segment)
    session.flush()
    return segment


def update_segment(session: Session, segment: Segment, data: Any,
                   now: datetime | None = None) -> Segment:
    if segment.builtin:
        raise SegmentInvalid({"": "built-in segments cannot be changed"})
    values, errors = check_fields(session, segment.shop_id, data, segment)
    if errors:
        raise SegmentInvalid(errors)
    segment.name = values["name"]
    if "rules" in values:
        segment.rules = values["rules"]
    segment.updated_at = now or utcnow()
    session.flush()
    return segment


def delete_segment(session: Session, segment: Segment) -> None:
    if segment.builtin:
        raise SegmentInvalid({"": "built-in segments cannot be deleted"})
    session.delete(segment)
    session.flush()
