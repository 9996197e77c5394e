"""Rows for the WooCommerce key handshake and the webhooks Sticky keeps on each store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

# WooConnectRequest.outcome
WAITING = "waiting"            # merchant sent to the store's authorize page
KEYS_RECEIVED = "keys_received"  # the store posted keys; confirming them
CONNECTED = "connected"
REFUSED = "refused"            # the merchant declined on the store
FAILED = "failed"              # the keys did not work


class WooConnectRequest(Base):
    """One `/wc-auth/v1/authorize` handshake. `token` is the single-use `user_id` sent to the
    store; the store echoes it in the key callback, which is accepted once, before expiry."""

    __tablename__ = "woo_connect_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    store_url: Mapped[str] = mapped_column(String(255))
    # The standalone panel's signed-in account, when known: linked to the store on success.
    account_id: Mapped[str | None] = mapped_column(String(64))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    outcome: Mapped[str] = mapped_column(String(16), default=WAITING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WooWebhook(Base):
    """A webhook Sticky created on a store: one per (store, topic). The secret signs its
    deliveries and is stored encrypted (app.crypto)."""

    __tablename__ = "woo_webhooks"
    __table_args__ = (
        UniqueConstraint("shop_id", "topic"),
        Index("ix_woo_webhooks_shop_remote", "shop_id", "remote_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str | None] = mapped_column(String(32))
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # "active" | "failed" (the store refused to create it; see error)
    status: Mapped[str] = mapped_column(String(16), default="active")
    error: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
