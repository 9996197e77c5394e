"""Progress records for history backfills (one row per run; the newest row is the shop's state)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

QUEUED, RUNNING, COMPLETED, FAILED = "queued", "running", "completed", "failed"
RUN_STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED)


class BackfillRun(Base):
    """One import of a shop's history.

    `cursor` is the source's opaque resume point and `processed` the units (orders and
    customers) applied so far; both are written in the transaction that applies a page, so a
    killed run resumes exactly after the last committed page. For Shopify the cursor names the
    bulk operation and the JSONL line reached; `bulk_operation_id` and `result_url` repeat
    them for people reading the table.
    """

    __tablename__ = "backfill_runs"
    __table_args__ = (Index("ix_backfill_runs_shop_id_id", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    cursor: Mapped[str | None] = mapped_column(Text)
    processed: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int | None] = mapped_column(BigInteger)
    bulk_operation_id: Mapped[str | None] = mapped_column(String(255))
    result_url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
