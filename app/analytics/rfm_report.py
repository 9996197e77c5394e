"""What the RFM page and a profile's RFM card show: the segments with their customers and
revenue, the recency x frequency grid, and when the store was last scored. Read from the
stored scores (app/analytics/rfm.py), scoped to the shop, two GROUP BY queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.analytics.rfm_models import RfmCutoffs
from app.profiles.models import Customer
from app.profiles.rfm_rules import DESCRIPTIONS, SCORES, SEGMENTS


@dataclass(frozen=True)
class SegmentRow:
    name: str
    description: str
    customers: int
    share: Decimal | None  # of the customers scored (0..1)
    revenue: Decimal  # their net spent, all time
    revenue_share: Decimal | None  # of the scored customers' net spent (0..1)
    average_spent: Decimal | None  # net spent per customer


@dataclass(frozen=True)
class RfmOverview:
    segments: list[SegmentRow]
    # grid[r][f]: customers with recency score r and frequency score f (1-5 each).
    grid: dict[int, dict[int, int]]
    grid_max: int
    customers_scored: int
    revenue: Decimal
    cutoffs: RfmCutoffs | None

    @property
    def computed_at(self) -> datetime | None:
        return self.cutoffs.computed_at if self.cutoffs is not None else None


def _ratio(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def rfm_overview(session: Session, shop_id: int) -> RfmOverview:
    """The shop's segments (in SEGMENTS order, empty ones included) and R x F grid."""
    mine = (Customer.shop_id == shop_id, Customer.deleted_at.is_(None),
            Customer.rfm_segment.in_(SEGMENTS))
    by_segment = {
        name: (int(n), Decimal(spent or 0))
        for name, n, spent in session.execute(
            select(Customer.rfm_segment, func.count(), func.sum(Customer.total_spent))
            .where(*mine).group_by(Customer.rfm_segment))
    }
    total = sum(n for n, _ in by_segment.values())
    revenue = sum((spent for _, spent in by_segment.values()), Decimal(0))
    segments = []
    for name in SEGMENTS:
        n, spent = by_segment.get(name, (0, Decimal(0)))
        segments.append(SegmentRow(
            name=name, description=DESCRIPTIONS[name], customers=n, share=_ratio(n, total),
            revenue=spent, revenue_share=_ratio(spent, revenue),
            average_spent=spent / n if n else None))
    grid = {r: dict.fromkeys(SCORES, 0) for r in SCORES}
    for r, f, n in session.execute(
            select(Customer.rfm_recency, Customer.rfm_frequency, func.count())
            .where(*mine, Customer.rfm_recency.is_not(None))
            .group_by(Customer.rfm_recency, Customer.rfm_frequency)):
        if r in grid and f in grid[r]:
            grid[r][f] = int(n)
    return RfmOverview(
        segments=segments, grid=grid,
        grid_max=max((n for row in grid.values() for n in row.values()), default=0),
        customers_scored=total, revenue=revenue,
        cutoffs=session.get(RfmCutoffs, shop_id))


def cut_point_rows(cutoffs: RfmCutoffs | None) -> list[tuple[str, str, list]]:
    """(dimension label, unit, [cut of score 2..5]) for the page's "how scores were cut"."""
    if cutoffs is None:
        return []
    return [("Recency", "days since the last order, at most", cutoffs.cuts("recency")),
            ("Frequency", "orders, at least", cutoffs.cuts("frequency")),
            ("Monetary", "net spent, at least", cutoffs.cuts("monetary"))]
