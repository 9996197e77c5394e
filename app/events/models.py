"""The event log and where each subscriber has read it to.

- `domain_events`: the outbox. One row per published fact, appended in the transaction that
  recorded the fact (app/events/outbox.py). Within one shop, ids increase in commit order:
  that is what lets a cursor be a single number (see `outbox.publish`).
- `event_subscribers`: every subscriber name the database has seen, and when; its presence
  is what tells a shop that appeared later (no cursor yet) from a subscriber that is new.
- `event_cursors`: per (subscriber, shop), the id of the last event whose effects have
  committed, and the failure the subscriber is stuck on, if any.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

JsonType = JSON().with_variant(JSONB(), "postgresql")

# Where a subscriber new to the database starts reading each shop's log.
START_AT_END, START_AT_BEGINNING = "end", "beginning"


class StoredEvent(Base):
    """A published domain event. Never updated, except `customer_id` when a guest profile is
    merged into a registered one (the guest's id stops existing); deleted by redaction."""

    __tablename__ = "domain_events"
    __table_args__ = (
        # The dispatcher reads "this shop's events after id N, in order".
        Index("ix_domain_events_shop_id_id", "shop_id", "id"),
        # SQLite: never hand out an id again after the newest rows are deleted (redaction),
        # or a cursor past that id would skip the new event.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No foreign keys: appending is on the ingest path, and an event is a record of what
    # happened, which outlives a merged profile. `shop/redact` and `customers/redact` delete
    # rows explicitly.
    shop_id: Mapped[int] = mapped_column(BigId)
    customer_id: Mapped[int] = mapped_column(BigId, index=True)
    kind: Mapped[str] = mapped_column(String(48))
    ref: Mapped[str] = mapped_column(String(160))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class EventSubscriber(Base):
    """A subscriber name as first seen by a dispatcher, with where it started."""

    __tablename__ = "event_subscribers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    start: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventCursor(Base):
    """How far one subscriber has read one shop's log.

    `last_event_id` moves in the same transaction as the effects of the events up to it. A
    subscriber whose handler raised stays on that event: `failed_event_id`, `attempts` (in a
    row), `last_error`, and `retry_at` (when the dispatcher tries again by itself)."""

    __tablename__ = "event_cursors"

    subscriber: Mapped[str] = mapped_column(String(64), primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"),
                                         primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failed_event_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
