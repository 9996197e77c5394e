"""`POST /webhooks/shopify`: what is accepted, refused, stored and enqueued."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import db
from app.inbox.models import FAILED, PENDING, InboxEntry
from app.profiles.models import Customer, Order
from app.queue import get_queue
from tests.conftest import post_webhook, run_worker
from tests.factories import order_payload


def inbox_count() -> int:
    return db.session.execute(select(func.count()).select_from(InboxEntry)).scalar_one()


def test_valid_webhook_is_stored_enqueued_and_applied(app, client, shop):
    payload = order_payload(total="42.50")
    response = post_webhook(client, "orders/create", payload, webhook_id="w-1")
    assert response.status_code == 200
    entry = db.session.execute(select(InboxEntry)).scalar_one()
    assert (entry.topic, entry.delivery_key, entry.status) == ("orders/create", "w-1", PENDING)
    assert len(get_queue("ingest")) == 1

    run_worker(app)

    db.session.expire_all()
    order = db.session.execute(select(Order)).scalar_one()
    assert order.platform_order_id == str(payload["id"])
    assert str(order.total_price) == "42.5000"
    assert db.session.execute(select(InboxEntry.status)).scalar_one() == "processed"


def test_bad_signature_is_401_and_stores_nothing(client, shop):
    response = post_webhook(client, "orders/create", order_payload(), secret="not-the-secret")
    assert response.status_code == 401
    assert "signature" in response.get_json()["message"]
    assert inbox_count() == 0


def test_missing_signature_is_401(client, shop):
    response = client.post("/webhooks/shopify", data=b"{}", headers={
        "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "sticky-test.myshopify.com",
    })
    assert response.status_code == 401
    assert inbox_count() == 0


def test_signature_is_checked_on_the_raw_bytes(client, shop):
    """Re-serialising the JSON (spacing, key order) must break the signature."""
    import json

    body = json.dumps(order_payload(), separators=(",", ":")).encode()
    from tests.conftest import sign

    signature = sign(body)
    respaced = json.dumps(json.loads(body)).encode()
    response = client.post("/webhooks/shopify", data=respaced, headers={
        "X-Shopify-Topic": "orders/create", "X-Shopify-Shop-Domain": "sticky-test.myshopify.com",
        "X-Shopify-Hmac-Sha256": signature, "X-Shopify-Webhook-Id": "w",
    })
    assert response.status_code == 401


def test_previous_secret_is_accepted_while_rotating(app, client, shop):
    app.config["SHOPIFY_API_SECRET_OLD"] = "the-old-secret"
    try:
        response = post_webhook(client, "orders/create", order_payload(), secret="the-old-secret")
    finally:
        app.config["SHOPIFY_API_SECRET_OLD"] = None
    assert response.status_code == 200
    assert inbox_count() == 1


def test_unknown_shop_is_acknowledged_and_ignored(client, shop):
    response = post_webhook(client, "orders/create", order_payload(),
                            shop_domain="stranger.myshopify.com")
    assert response.status_code == 200
    assert "not connected" in response.get_json()["message"]
    assert inbox_count() == 0


def test_oversized_body_is_413(app, client, shop):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = post_webhook(client, "orders/create", None, body=b"x" * (limit + 1))
    assert response.status_code == 413
    assert inbox_count() == 0


def test_redelivery_of_a_known_id_changes_nothing(app, client, shop):
    payload = order_payload(total="10.00")
    for _ in range(3):
        response = post_webhook(client, "orders/create", payload, webhook_id="same-id")
        assert response.status_code == 200
    assert inbox_count() == 1
    assert len(get_queue("ingest")) == 1
    run_worker(app)
    assert db.session.execute(select(func.count()).select_from(Order)).scalar_one() == 1


def test_signed_body_that_is_not_json_is_recorded_as_failed(app, client, shop):
    response = post_webhook(client, "orders/create", None, body=b"\xff\xfenot json at all")
    assert response.status_code == 200
    run_worker(app)
    db.session.expire_all()
    entry = db.session.execute(select(InboxEntry)).scalar_one()
    assert entry.status == FAILED
    assert "not valid JSON" in entry.error
    # Not retried forever: a later drain leaves it alone.
    run_worker(app)
    db.session.expire_all()
    assert db.session.execute(select(InboxEntry.attempts)).scalar_one() == 1


def test_payload_missing_required_fields_fails_alone(app, client, shop):
    post_webhook(client, "orders/create", {"id": 1})  # no dates, no currency
    post_webhook(client, "orders/create", order_payload())
    run_worker(app)
    db.session.expire_all()
    statuses = sorted(db.session.execute(select(InboxEntry.status)).scalars())
    assert statuses == ["failed", "processed"]
    assert db.session.execute(select(func.count()).select_from(Order)).scalar_one() == 1


def test_unknown_topic_is_acknowledged_and_changes_nothing(app, client, shop):
    response = post_webhook(client, "products/update", {"id": 1, "title": "Hat"})
    assert response.status_code == 200
    run_worker(app)
    db.session.expire_all()
    assert db.session.execute(select(InboxEntry.status)).scalar_one() == "processed"
    assert db.session.execute(select(func.count()).select_from(Customer)).scalar_one() == 0


@pytest.fixture
def database_down(app, monkeypatch):
    """The app's database is a PostgreSQL port nothing listens on: real connection attempts,
    refused."""
    import socket

    from sqlalchemy.orm import sessionmaker

    from app.db import make_engine

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/sticky")
    monkeypatch.setattr(db, "engine", engine)
    monkeypatch.setattr(db, "sessionmaker", sessionmaker(engine, expire_on_commit=False))
    monkeypatch.delitem(app.extensions, "sticky.inbox_pool", raising=False)
    yield
    app.extensions.pop("sticky.inbox_pool", None)  # the one made for the refused port
    engine.dispose()


def test_database_down_answers_503_so_shopify_retries(client, database_down):
    response = post_webhook(client, "orders/create", order_payload())
    assert response.status_code == 503
    assert "retry" in response.get_json()["message"]


def test_database_down_answers_503_so_woocommerce_sees_a_failure(client, database_down):
    response = client.post("/webhooks/woocommerce/1", data=b'{"id": 1}',
                           headers={"X-WC-Webhook-Signature": "x"})
    assert response.status_code == 503


def test_a_dropped_database_connection_costs_no_delivery(app, client, shop):
    """The receiver's pooled connection is killed (as by a PostgreSQL restart): the next
    delivery is still stored, on a fresh connection."""
    if db.dialect != "postgresql":
        pytest.skip("the receiver's own connections are PostgreSQL's")
    from sqlalchemy import text

    assert post_webhook(client, "orders/create", order_payload()).status_code == 200
    with db.engine.begin() as conn:
        killed = conn.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = '' AND state = 'idle'")).scalar()
    assert killed >= 1
    response = post_webhook(client, "orders/create", order_payload())
    assert response.status_code == 200
    assert response.get_json()["message"] == "accepted"
    assert inbox_count() == 2


def test_redis_down_still_accepts_and_the_sweep_recovers(app, client, shop, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    import app.inbox.queueing as queueing

    def no_redis(*args, **kwargs):
        raise RedisConnectionError("redis is down")

    monkeypatch.setattr(queueing, "get_redis", no_redis)
    response = post_webhook(client, "orders/create", order_payload())
    assert response.status_code == 200
    monkeypatch.undo()
    assert len(get_queue("ingest")) == 0  # the enqueue was lost with Redis

    from jobs.ingest import sweep_inbox

    with app.app_context():
        assert sweep_inbox(older_than_seconds=0)["requeued"] == [shop.id]
    run_worker(app)
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(Order)).scalar_one() == 1


def test_a_delivery_that_fails_while_applying_fails_alone(app, client, shop, monkeypatch):
    """The optimistic batch is redone one savepoint per delivery; the rest still apply."""
    from app.profiles.store import ProfileStore

    bad = order_payload(total="13.00")
    real_apply = ProfileStore._apply_order

    def explode_on_bad(self, record):
        if record.platform_id == str(bad["id"]):
            raise ValueError("simulated bug")
        real_apply(self, record)

    monkeypatch.setattr(ProfileStore, "_apply_order", explode_on_bad)
    post_webhook(client, "orders/create", order_payload(total="11.00"))
    post_webhook(client, "orders/create", bad)
    post_webhook(client, "orders/create", order_payload(total="17.00"))
    run_worker(app)
    db.session.close()
    rows = db.session.execute(select(InboxEntry.status, InboxEntry.error)
                              .order_by(InboxEntry.id)).all()
    assert [r.status for r in rows] == ["processed", "failed", "processed"]
    assert "simulated bug" in rows[1].error
    totals = sorted(str(t) for t in db.session.execute(select(Order.total_price)).scalars())
    assert totals == ["11.0000", "17.0000"]
    customer = db.session.execute(select(Customer)).scalar_one()
    assert customer.orders_count == 2


# --- headers that do not fit: refused with a reason, never a 500, nothing stored -------------

def _signed_post(client, headers: dict[str, str]):
    from tests.conftest import sign

    body = b'{"id": 1}'
    sent = {"X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": "sticky-test.myshopify.com",
            "X-Shopify-Hmac-Sha256": sign(body), "X-Shopify-Webhook-Id": "w-headers"}
    sent.update(headers)
    return client.post("/webhooks/shopify", data=body, headers=sent)


def audit_count() -> int:
    from app.compliance.models import ComplianceAudit

    return db.session.execute(select(func.count()).select_from(ComplianceAudit)).scalar_one()


def test_topic_longer_than_the_inbox_column_is_400(client, shop):
    """A signature covers the body only: anyone replaying a signed body picks the headers."""
    response = _signed_post(client, {"X-Shopify-Topic": "orders/" + "x" * 64})
    assert response.status_code == 400
    assert "X-Shopify-Topic" in response.get_json()["message"]
    assert inbox_count() == 0


def test_topic_of_exactly_the_column_length_is_accepted(client, shop):
    response = _signed_post(client, {"X-Shopify-Topic": "x/" + "y" * 62})
    assert response.status_code == 200
    assert db.session.execute(select(InboxEntry.topic)).scalar_one() == "x/" + "y" * 62


def test_shop_domain_longer_than_any_store_is_400_even_for_a_privacy_topic(client, shop):
    # An unknown store's privacy request is audited: the domain must fit the audit column.
    response = _signed_post(client, {"X-Shopify-Topic": "shop/redact",
                                     "X-Shopify-Shop-Domain": "a" * 250 + ".myshopify.com"})
    assert response.status_code == 400
    assert "X-Shopify-Shop-Domain" in response.get_json()["message"]
    assert (inbox_count(), audit_count()) == (0, 0)


def test_webhook_id_longer_than_the_delivery_key_is_400(client, shop):
    # Cutting it short could make two deliveries one, and lose the second.
    response = _signed_post(client, {"X-Shopify-Webhook-Id": "w" * 129})
    assert response.status_code == 400
    assert "X-Shopify-Webhook-Id" in response.get_json()["message"]
    assert inbox_count() == 0


@pytest.mark.parametrize("header", ["X-Shopify-Topic", "X-Shopify-Shop-Domain",
                                    "X-Shopify-Webhook-Id"])
@pytest.mark.parametrize("value", ["orders\x00create", "orders\x01create", "ordérs/create"])
def test_header_with_control_or_non_ascii_characters_is_400(client, shop, header, value):
    # PostgreSQL refuses NUL in text; every real value is printable ASCII.
    response = _signed_post(client, {header: value})
    assert response.status_code == 400
    assert header in response.get_json()["message"]
    assert (inbox_count(), audit_count()) == (0, 0)
