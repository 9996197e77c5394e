from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow
from app.profiles.models import JsonType


class ComplianceAudit(Base):
    """One handled privacy or lifecycle request, kept after the data it concerned is gone.

    Holds no personal data: the customer is recorded only as a keyed hash of the shop and
    customer id (`subject_hash`), enough to answer "did you act on customer X's request?".
    Deliberately not a foreign key to `shops`: the record outlives a shop/redact.
    """

    __tablename__ = "compliance_audit"
    __table_args__ = (Index("ix_compliance_audit_shop_received", "shop_domain", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    shop_domain: Mapped[str] = mapped_column(String(255))
    store_id: Mapped[int | None] = mapped_column(BigInteger)  # Sticky's shop id at the time
    delivery_key: Mapped[str | None] = mapped_column(String(128))
    subject_hash: Mapped[str | None] = mapped_column(String(64))
    # "done" | "ignored" (nothing held, e.g. unknown store) | "failed" (unreadable request)
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ComplianceExport(Base):
    """The answer to a customers/data_request: everything Sticky holds on that customer, as
    JSON, for the merchant to download and pass on. Erased by a later customers/redact."""

    __tablename__ = "compliance_exports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    data_request_id: Mapped[str | None] = mapped_column(String(64))
    subject_hash: Mapped[str] = mapped_column(String(64), index=True)
    counts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content: Mapped[dict[str, Any]] = mapped_column(JsonType)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
