"""The receivers' door to the inbox: look the store up and store the delivery, committed.

This runs once per webhook, so on PostgreSQL it is one statement on an autocommit connection:
the store lookup, the `INSERT ... ON CONFLICT DO NOTHING` and the commit are a single round
trip, and the reply only comes once the row is committed (with the server's
`synchronous_commit`), so the 2xx still follows the commit. Through the ORM the same work was
a pool checkout with its ping, BEGIN, a SELECT, the INSERT and a COMMIT: five round trips, and
most of the 1.9 ms of CPU a delivery cost in-process against 0.2 ms for a bare endpoint
(benchmarks/README.md).

The connections are psycopg's own, kept per app and process in a small pool of idle
autocommit connections. A broken one is dropped and the statement retried once on a fresh
connection, which is safe because storing a delivery twice changes nothing; if that fails
too, the error is SQLAlchemy's `OperationalError`, which the app answers with 503 so the
platform retries. Other databases (the embedded SQLite default) take the ORM path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from app.db import db, utcnow
from app.inbox.service import store_delivery
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook

log = logging.getLogger(__name__)

MAX_IDLE_CONNECTIONS = 8

# One statement: the store's id, and the new row's id (NULL: already stored, a redelivery).
# No row at all: no such store. A data-modifying CTE runs exactly once.
_ACCEPT_SQL = """
WITH shop AS (
    SELECT id FROM shops WHERE platform = %(platform)s AND {where}
), stored AS (
    INSERT INTO inbox (shop_id, topic, delivery_key, payload, status, attempts, received_at)
    SELECT id, %(topic)s, %(key)s, %(payload)s, %(status)s, 0, %(now)s FROM shop
    ON CONFLICT (shop_id, delivery_key) DO NOTHING
    RETURNING id
)
SELECT shop.id, (SELECT id FROM stored) FROM shop
"""
_ACCEPT_BY_DOMAIN = _ACCEPT_SQL.format(where="domain = %(domain)s")
# WooCommerce: only while the secret that verified the delivery is still one of the store's.
_ACCEPT_BY_ID_AND_SECRET = _ACCEPT_SQL.format(
    where="id = %(shop_id)s AND EXISTS (SELECT 1 FROM woo_webhooks w"
          " WHERE w.shop_id = shops.id AND w.secret_encrypted = %(secret)s)")
_WOO_SECRETS_SQL = """
SELECT w.remote_id, w.secret_encrypted FROM shops s
LEFT JOIN woo_webhooks w ON w.shop_id = s.id AND w.secret_encrypted IS NOT NULL
WHERE s.id = %(shop_id)s AND s.platform = 'woocommerce'
"""


@dataclass(frozen=True)
class Accepted:
    shop_id: int | None   # None: no such store (nothing stored)
    inbox_id: int | None  # None: already stored (a redelivery), or no such store

    @property
    def stored(self) -> bool:
        return self.inbox_id is not None


def accept_delivery(*, platform: str, topic: str, delivery_key: str, payload: bytes,
                    status: str, shop_domain: str | None = None, shop_id: int | None = None,
                    webhook_secret: str | None = None) -> Accepted:
    """Store a delivery for the store named by `shop_domain`, or by `shop_id` while
    `webhook_secret` (encrypted, as stored) is still one of its webhooks', committed.

    Values must fit their columns (the receivers check headers first)."""
    now = utcnow()
    if db.dialect == "postgresql":
        params = {"platform": platform, "domain": shop_domain, "shop_id": shop_id,
                  "secret": webhook_secret, "topic": topic, "key": delivery_key,
                  "payload": payload, "status": status, "now": now}
        sql = _ACCEPT_BY_DOMAIN if shop_domain is not None else _ACCEPT_BY_ID_AND_SECRET
        row = _pool().fetch(sql, params, one=True)
        return Accepted(None, None) if row is None else Accepted(row[0], row[1])
    session = db.session
    if shop_domain is not None:
        where = Shop.domain == shop_domain
    else:
        where = (Shop.id == shop_id) & select(WooWebhook.id).where(
            WooWebhook.shop_id == Shop.id, WooWebhook.secret_encrypted == webhook_secret
        ).exists()
    found = session.execute(select(Shop.id).where(Shop.platform == platform, where)).scalar()
    if found is None:
        session.commit()  # ends the transaction; a rollback would expire the session's objects
        return Accepted(None, None)
    inbox_id = store_delivery(session, shop_id=found, topic=topic, delivery_key=delivery_key,
                              payload=payload, status=status)
    session.commit()
    return Accepted(found, inbox_id)


def woocommerce_secrets(shop_id: int) -> list[tuple[str | None, str]] | None:
    """(remote webhook id, encrypted secret) of each of the store's webhooks that has a
    secret; None when `shop_id` is no connected WooCommerce store."""
    if db.dialect == "postgresql":
        rows = _pool().fetch(_WOO_SECRETS_SQL, {"shop_id": shop_id})
        if not rows:
            return None
        return [(remote, secret) for remote, secret in rows if secret is not None]
    session = db.session
    found = session.execute(select(Shop.id).where(Shop.id == shop_id,
                                                  Shop.platform == "woocommerce")).scalar()
    rows = [] if found is None else session.execute(
        select(WooWebhook.remote_id, WooWebhook.secret_encrypted)
        .where(WooWebhook.shop_id == shop_id, WooWebhook.secret_encrypted.is_not(None))).all()
    # End the read transaction (SQLite's BEGIN IMMEDIATE holds the write lock); a rollback
    # would expire the session's objects.
    session.commit()
    return None if found is None else [(remote, secret) for remote, secret in rows]


# --------------------------------------------------------------------------- connections

class _AutocommitPool:
    """Idle psycopg autocommit connections for one database, reused across requests."""

    def __init__(self, connect_args: tuple[list, dict[str, Any]]) -> None:
        self._args, self._kwargs = connect_args
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._inherited: list[Any] = []

    def _connect(self):
        import psycopg

        return psycopg.connect(*self._args, **{**self._kwargs, "autocommit": True})

    def _take(self):
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not use (or close: that ends the parent's session)
                # sockets it inherited; keep them referenced and start afresh.
                self._inherited += self._idle
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give(self, conn) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        conn = self._take()
        try:
            yield conn
        except BaseException:
            conn.close()  # its state is unknown: never hand it out again
            raise
        self._give(conn)

    def fetch(self, sql: str, params: dict[str, Any], *, one: bool = False) -> Any:
        """Run one statement; its first row (`one`) or all rows. Retried once on a fresh
        connection when the first one turns out broken (e.g. PostgreSQL restarted)."""
        import psycopg

        for attempt in (1, 2):
            try:
                with self._connection() as conn:
                    cursor = conn.execute(sql, params)
                    return cursor.fetchone() if one else cursor.fetchall()
            except psycopg.OperationalError as exc:
                if attempt == 2:
                    # No parameters in the error: they hold the delivery's body.
                    raise OperationalError(sql, None, exc) from exc
                log.info("inbox.connection_retry", extra={"error": type(exc).__name__})
        raise AssertionError("unreachable")


def _pool(app: Flask | None = None) -> _AutocommitPool:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    pool = app.extensions.get("sticky.inbox_pool")
    if pool is None:
        engine = db.engine
        assert engine is not None
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs.pop("context", None)  # SQLAlchemy's adapters for its types: plain psycopg here
        pool = app.extensions.setdefault("sticky.inbox_pool", _AutocommitPool((args, kwargs)))
    return pool
