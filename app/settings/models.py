"""One row of settings per store; a store without a row has the defaults (see app/settings)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow


class ShopSettings(Base):
    __tablename__ = "shop_settings"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"),
                                         primary_key=True)
    sender_name: Mapped[str | None] = mapped_column(String(255))
    sender_email: Mapped[str | None] = mapped_column(String(320))
    reply_to: Mapped[str | None] = mapped_column(String(320))
    # An IANA name (Europe/Paris); NULL follows the platform's time zone (shops.timezone).
    timezone: Mapped[str | None] = mapped_column(String(64))
    smart_sending_hours: Mapped[int] = mapped_column(Integer, default=16)
    quiet_hours_start: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" or NULL
    quiet_hours_end: Mapped[str | None] = mapped_column(String(5))
    attribution_click_days: Mapped[int] = mapped_column(Integer, default=5)
    attribution_open_days: Mapped[int] = mapped_column(Integer, default=5)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
