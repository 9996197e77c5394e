"""A shop's fitted prediction models: one row per fit (the newest is the one in use)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow
from app.profiles.models import JsonType

FITTED, NOT_ENOUGH_DATA, FAILED = "fitted", "not_enough_data", "failed"


class PredictionModel(Base):
    """One attempt to fit BG/NBD + Gamma-Gamma for a shop on its orders up to `as_of`.

    `bgnbd` = {"r", "alpha", "a", "b", "time_unit", "log_likelihood", "customers", ...};
    `gamma_gamma` = {"p", "q", "gamma", "log_likelihood", "customers"}; `calibration` is the
    holdout check (app.predictions.calibration). Gate figures are kept whatever the status,
    so the panel can say which one is short."""

    __tablename__ = "prediction_models"
    __table_args__ = (Index("ix_prediction_models_shop_id_fitted_at", "shop_id", "fitted_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime)
    buyers: Mapped[int] = mapped_column(Integer, default=0)
    repeat_buyers: Mapped[int] = mapped_column(Integer, default=0)
    history_days: Mapped[int] = mapped_column(Integer, default=0)
    bgnbd: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    gamma_gamma: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    scored_customers: Mapped[int] = mapped_column(Integer, default=0)
