"""A saved segment: a name and rules (app.segments.rules), never a stored list of members."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow
from app.profiles.models import Customer, JsonType

NAME_MAX = 120


class Segment(Base):
    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("shop_id", "name"),
        # One row per built-in per store ("rfm:Champions"); NULL for the merchant's own.
        UniqueConstraint("shop_id", "builtin_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    rules: Mapped[Any] = mapped_column(JsonType)
    builtin_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def builtin(self) -> bool:
        return self.builtin_key is not None


# Rules on the RFM group, and the built-in RFM segments, read this index (migration 0023).
# Declared here, with the feature that needs it, on the profile store's table.
Index("ix_customers_shop_rfm_segment", Customer.shop_id, Customer.rfm_segment,
      postgresql_where=text("deleted_at IS NULL"), sqlite_where=text("deleted_at IS NULL"))
