"""Migration imports: one row per import of a CSV file (customers or orders) into a shop.

The file itself is stored in the row (`content`), so any worker can resume a run another
process started. `cursor` is the number of the file's import items (a customer, or an order
with its lines) already applied; each chunk of items is applied in one transaction that also
advances `cursor` and the counts, so a run killed at any moment resumes exactly after the
last committed chunk.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow
from app.profiles.models import JsonType

CUSTOMERS, ORDERS = "customers", "orders"
KINDS = (CUSTOMERS, ORDERS)

# A run is "planned" once its dry run is done; "queued" when a worker is asked to apply it.
PLANNED, QUEUED, RUNNING, COMPLETED, FAILED = "planned", "queued", "running", "completed", "failed"
UNFINISHED = (QUEUED, RUNNING, FAILED)


class ImportRun(Base):
    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_shop_id_id", "shop_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # {"columns": {header: field}, "timezone": "Europe/Paris", "currency": "EUR"}: what the
    # file's values were read with, fixed when the run is planned so a resume reads the same.
    mapping: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(16), default=PLANNED)
    total: Mapped[int] = mapped_column(Integer, default=0)      # import items in the file
    cursor: Mapped[int] = mapped_column(Integer, default=0)     # items applied (committed)
    last_line: Mapped[int | None] = mapped_column(Integer)       # file line of the last one
    created: Mapped[int] = mapped_column(BigInteger, default=0)
    merged: Mapped[int] = mapped_column(BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)  # rejected when applied
    # The dry run's report (see app.imports.report), kept with the run.
    report: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
