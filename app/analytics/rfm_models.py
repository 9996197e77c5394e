"""`rfm_cutoffs`: one row per shop, the quintile cut points its RFM scores were given by
(app/analytics/rfm.py), so one customer can be rescored without ranking the whole store."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime
from app.profiles.models import Money


class RfmCutoffs(Base):
    """A score s (2-5) is reached when the value reaches its cut point `<dimension>_cut_<s>`:
    recency when the days since the last order, counted at `as_of`, are at most
    `recency_cut_<s>`; frequency (orders) and monetary (net spent) when at least the cut.
    A null cut point: no customer reached that score (fewer than 5 distinct values)."""

    __tablename__ = "rfm_cutoffs"

    shop_id: Mapped[int] = mapped_column(BigId, ForeignKey("shops.id", ondelete="CASCADE"),
                                         primary_key=True)
    # The moment recency was counted from (days since the last order as of then).
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    customers_scored: Mapped[int] = mapped_column(Integer, default=0)
    recency_cut_2: Mapped[int | None] = mapped_column(Integer)
    recency_cut_3: Mapped[int | None] = mapped_column(Integer)
    recency_cut_4: Mapped[int | None] = mapped_column(Integer)
    recency_cut_5: Mapped[int | None] = mapped_column(Integer)
    frequency_cut_2: Mapped[int | None] = mapped_column(Integer)
    frequency_cut_3: Mapped[int | None] = mapped_column(Integer)
    frequency_cut_4: Mapped[int | None] = mapped_column(Integer)
    frequency_cut_5: Mapped[int | None] = mapped_column(Integer)
    monetary_cut_2: Mapped[Decimal | None] = mapped_column(Money)
    monetary_cut_3: Mapped[Decimal | None] = mapped_column(Money)
    monetary_cut_4: Mapped[Decimal | None] = mapped_column(Money)
    monetary_cut_5: Mapped[Decimal | None] = mapped_column(Money)

    def cuts(self, dimension: str) -> list:
        """[cut for score 2, 3, 4, 5] of "recency", "frequency" or "monetary"."""
        return [getattr(self, f"{dimension}_cut_{s}") for s in (2, 3, 4, 5)]
