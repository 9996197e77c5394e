"""A flow's figures: entered, sent, opened, clicked, converted, revenue, unsubscribed (per
flow, per step, per recipient).

FOUNDATION STUB (zeros): the attribution owner implements it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

ZERO = {"entered": 0, "sent": 0, "opened": 0, "clicked": 0, "converted": 0,
        "revenue": "0.00", "unsubscribed": 0}


def flow_stats(session: Session, shop_id: int, flow_ids: list[int]) -> dict[int, dict[str, Any]]:
    return {flow_id: dict(ZERO) for flow_id in flow_ids}
