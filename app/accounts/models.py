"""Standalone-panel accounts (WooCommerce merchants) and the stores each may open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, UTCDateTime, utcnow

ROLE_OWNER = "owner"


class Account(Base):
    """A person who signs in to the standalone panel with an email and a password."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    # Lower-cased and stripped: the sign-in identity, unique.
    email_normalized: Mapped[str] = mapped_column(String(320), unique=True)
    # werkzeug.security format, e.g. "scrypt:32768:8:1$salt$hash".
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of every signed session cookie; bumping it (sign-out) invalidates every copy.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failed_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AccountShop(Base):
    """An account may open this store in the panel and its `/api`."""

    __tablename__ = "account_shops"
    __table_args__ = (UniqueConstraint("account_id", "shop_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=ROLE_OWNER)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignInLink(Base):
    """A single-use, short-lived sign-in link (`/admin/sign-in/<token>`), as `demo` prints.

    Only a SHA-256 of the token is kept; `used_at` is set by the statement that consumes it,
    so a link opens one session, once, before `expires_at`.
    """

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
