"""What a merchant adds to a profile in the panel: free-form notes and tags.

Kept apart from the mirror's own columns (`customers.tags` is the platform's tag list, which
every customer webhook overwrites): a merchant's note or tag must survive the next delivery.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

MAX_NOTE_LENGTH = 5000
MAX_TAG_LENGTH = 64


class CustomerNote(Base):
    __tablename__ = "customer_notes"
    __table_args__ = (Index("ix_customer_notes_customer", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    # Who wrote it: an account's email (standalone) or "Shopify staff" (embedded); shown as is.
    author: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerTag(Base):
    """One merchant tag on one profile; the pair is unique, so adding a tag twice is one tag."""

    __tablename__ = "customer_tags"
    __table_args__ = (
        UniqueConstraint("customer_id", "tag_normalized"),
        Index("ix_customer_tags_shop_tag", "shop_id", "tag_normalized"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(MAX_TAG_LENGTH))
    tag_normalized: Mapped[str] = mapped_column(String(MAX_TAG_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
