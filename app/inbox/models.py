from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

PENDING, PROCESSED, FAILED = "pending", "processed", "failed"


class InboxEntry(Base):
    """One accepted webhook delivery, stored before the platform gets its 2xx.

    `delivery_key` identifies the delivery (Shopify's `X-Shopify-Webhook-Id`); the unique
    constraint is what makes redeliveries change nothing. The body is kept as the exact bytes
    that were signed.
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("shop_id", "delivery_key"),
        Index("ix_inbox_pending", "shop_id", "id", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        # Failed deliveries by store, newest first (Settings page, `inbox status --failed`);
        # the ingest path never writes to it (migration 0012s).
        Index("ix_inbox_failed", "shop_id", "id", postgresql_where=text("status = 'failed'"),
              sqlite_where=text("status = 'failed'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    delivery_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
