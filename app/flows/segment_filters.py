"""Which of a store's flows filter or split on a saved segment (a segment in use is not
deleted from under a live flow)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.flows.conditions import segment_ids
from app.flows.models import Flow


def _conditions_of(steps: list[Any]) -> list[Any]:
    found: list[Any] = []
    for step in steps or []:
        if isinstance(step, dict):
            if step.get("type") == "split":
                found.append(step.get("condition"))
                found.extend(_conditions_of(step.get("yes") or []))
                found.extend(_conditions_of(step.get("no") or []))
    return found


def segment_ids_of(definition: dict[str, Any]) -> set[int]:
    """The saved segments a flow's definition names (filters and split steps)."""
    definition = definition or {}
    return segment_ids([*(definition.get("trigger_filters") or []),
                        *(definition.get("flow_filters") or []),
                        *_conditions_of(definition.get("steps") or [])])


def flows_using_segment(session: Session, shop_id: int, segment_id: int) -> list[str]:
    """The names of the store's flows whose filters or split steps name the segment."""
    names = []
    for name, definition in session.execute(select(Flow.name, Flow.definition).where(
            Flow.shop_id == shop_id).order_by(Flow.name)):
        if segment_id in segment_ids_of(definition):
            names.append(name)
    return names
