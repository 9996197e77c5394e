"""Who enters the flows no event starts: lapsed shoppers (win-back) and dates (birthday).

FOUNDATION STUB: the built-in flows' owner implements both. The engine's sweep calls them
for each live flow of that trigger type and enters each candidate under its trigger key
(a run is unique per flow and trigger key, so calling again enters no one twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Candidate:
    customer_id: int
    trigger_key: str  # e.g. "lapsed:<last order id>", "birthday:<year>"
    context: dict[str, Any] = field(default_factory=dict)  # the run's `event` facts


def lapsed(session: Session, shop_id: int, trigger: dict[str, Any],
           now: datetime) -> list[Candidate]:
    return []


def dates(session: Session, shop_id: int, trigger: dict[str, Any],
          now: datetime) -> list[Candidate]:
    return []
