"""Tiers: entry when a member crosses a threshold, daily retention and downgrade.

(Contract; built by the tiers work.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.loyalty.program import Program


def progress(session: Session, shop_id: int, customer_id: int,
             program: Program) -> dict[str, Any]:
    """{"tier", "next_tier", "basis", "value", "needed"}: where the member stands on the
    tier basis over the program's period, and what the next tier needs (strings for
    amounts)."""
    raise NotImplementedError
