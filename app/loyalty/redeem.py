"""Redeeming points for a reward: a single-use discount code made on the platform.

(Contract; built by the rewards work.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.shops.models import Shop


class RedemptionRefused(Exception):
    """The shopper cannot redeem this (not enough points, inactive reward, ...): `reason` is
    a sentence to show them; `status` the HTTP status an API answers with."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def redeem(session: Session, shop: Shop, customer_id: int, reward_id: int, *,
           idempotency_key: str | None = None) -> dict[str, Any]:
    """Hold the points, make the code on the platform, then take the points. Manages its own
    transactions (the hold is committed before the platform is called). Returns
    {"id", "code", "status", "points", "expires_at", ...}; raises RedemptionRefused."""
    raise NotImplementedError
