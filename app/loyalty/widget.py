"""What the storefront rewards widget shows a shopper.

(Contract; built by the widget work.)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.shops.models import Shop


def widget_view(session: Session, shop: Shop, customer_id: int | None) -> dict[str, Any]:
    """{"points_balance", "tier", "next_tier", "rewards", "referral_url", "history", ...} for
    a signed-in shopper; for a guest (None), the program without a member's figures."""
    raise NotImplementedError
