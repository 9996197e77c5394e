from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

PLATFORMS = ("shopify", "woocommerce")


class Shop(Base):
    """A connected store. `domain` is `x.myshopify.com` or a WooCommerce store URL."""

    __tablename__ = "shops"
    __table_args__ = (UniqueConstraint("platform", "domain"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    domain: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Credentials are Fernet ciphertext (app.crypto); never the plain value.
    # Shopify: the Admin API access token, and for expiring offline tokens the refresh token.
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scopes: Mapped[str | None] = mapped_column(Text)
    # WooCommerce: the REST base (scheme + host + path, e.g. `https://shop.example`) and keys.
    api_base_url: Mapped[str | None] = mapped_column(String(255))
    consumer_key_encrypted: Mapped[str | None] = mapped_column(Text)
    consumer_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    # "active" | "uninstalled" | "pending" (connect handshake not yet confirmed)
    status: Mapped[str] = mapped_column(String(16), default="active")
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Reconciliation watermark: records updated after this are re-read from the platform.
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The local demo store (`flask --app app demo`): nothing is ever sent to its platform
    # (app/shops/outbound.py). Set only by the demo's seeder.
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """A per-store key for `/api`. Only a SHA-256 of the key is kept; it is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
