"""The demo store never leaves the machine: no path sends anything to its platform.

The network edge is watched three ways at once: `responses` (Sticky's requests-based HTTP
client) with a catch-all answer, shopifyapp's httpx transport (token refresh and exchange),
and a tripwire on name resolution and socket connects to anything but this machine. Each
test of the demo store has a twin for an ordinary store in the same state, which does reach
Shopify: the watch would see a leak.
"""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta

import httpx
import pytest
import responses
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import select

from app.crypto import encrypt
from app.db import db, utcnow
from app.demo import DEMO_DOMAIN, demo_shop_id
from app.queue import QUEUE_NAMES, get_queue, get_redis
from app.shops.models import Shop
from app.sync.models import RUNNING, BackfillRun
from connectors.shopify import oauth
from jobs.worker import PERIODIC_JOBS, enqueue_due_periodic_jobs

OUTBOUND_LOGGER = "app.shops.outbound"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", None, ""}


class NetworkWatch:
    """Everything that tried to leave the machine, by whichever client."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.rsps = rsps
        self.httpx_requests: list[str] = []
        self.sockets: list[str] = []

    @property
    def attempts(self) -> list[str]:
        return ([call.request.url for call in self.rsps.calls] + self.httpx_requests
                + self.sockets)


@pytest.fixture
def network(monkeypatch):
    def httpx_answer(request: httpx.Request) -> httpx.Response:
        watch.httpx_requests.append(str(request.url))
        return httpx.Response(401, json={"error": "invalid_client"})

    monkeypatch.setattr(oauth, "HTTPX_TRANSPORT", httpx.MockTransport(httpx_answer))

    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in _LOCAL_HOSTS:
            watch.sockets.append(f"resolve {host}")
            raise socket.gaierror(f"test tripwire: {host} is not on this machine")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None  # a str is a unix socket
        if host not in _LOCAL_HOSTS:
            watch.sockets.append(f"connect {address}")
            raise ConnectionRefusedError(f"test tripwire: {address} is not on this machine")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        # Answer every URL (401, like a dead token), so an ordinary store's attempt is
        # recorded and fails fast rather than retrying a connection error.
        for method in (responses.GET, responses.POST, responses.PUT, responses.DELETE):
            rsps.add(method, re.compile(r".*"), status=401, json={"errors": "Unauthorized"})
        watch = NetworkWatch(rsps)
        yield watch


def _due_for_everything(session, shop_id: int) -> None:
    """Make every periodic outbound job due: an old watermark, a token about to expire
    (with its refresh token) and a backfill run whose worker died."""
    shop = session.get(Shop, shop_id)
    shop.last_synced_at = utcnow() - timedelta(days=1)
    shop.access_token_expires_at = utcnow() + timedelta(minutes=1)
    shop.refresh_token_encrypted = encrypt("shprt_demo_refresh")
    shop.refresh_token_expires_at = utcnow() + timedelta(days=30)
    session.add(BackfillRun(shop_id=shop_id, platform="shopify", status=RUNNING, processed=10,
                            updated_at=utcnow() - timedelta(hours=2)))
    session.commit()


def _run_periodic_jobs_in_process(app) -> tuple[set[str], set[str]]:
    """Enqueue every periodic job as a worker's scheduler would, then run the queues dry in
    this process (so `responses`, the tripwire and caplog see everything). Returns the
    functions that finished and those that failed."""
    db.session.close()
    enqueued = enqueue_due_periodic_jobs(app)
    assert sorted(enqueued) == sorted(func for func, _ in PERIODIC_JOBS)
    redis = get_redis()
    queues = [get_queue(name) for name in QUEUE_NAMES]
    SimpleWorker(queues, connection=redis, serializer=JSONSerializer).work(burst=True)

    def funcs(registry_class) -> set[str]:
        names = set()
        for queue in queues:
            registry = registry_class(queue=queue)
            for job in registry.get_job_ids():
                names.add(queue.fetch_job(job).func_name)
        return names

    return funcs(FinishedJobRegistry), funcs(FailedJobRegistry)


def _skip_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == OUTBOUND_LOGGER]


@pytest.mark.parametrize("due_for_everything", [False, True], ids=["as-seeded", "all-due"])
def test_the_demo_stores_periodic_jobs_send_nothing_and_say_so_once(ctx, network, caplog,
                                                                    due_for_everything):
    # given the demo store as the demo leaves it, or also due for a token refresh and a
    # backfill resume
    shop_id = demo_shop_id(ctx)
    if due_for_everything:
        _due_for_everything(db.session, shop_id)
    caplog.set_level(logging.INFO, logger=OUTBOUND_LOGGER)
    # when every periodic job runs
    finished, failed = _run_periodic_jobs_in_process(ctx)
    # then nothing tried to leave the machine, no job failed, and one line says why
    assert network.attempts == []
    assert failed == set()
    assert finished >= {func for func, _ in PERIODIC_JOBS}
    assert _skip_lines(caplog) == [
        f"shop.outbound_skipped: {DEMO_DOMAIN} is the local demo store, which never calls "
        "Shopify: reconciliation skipped"]


@pytest.mark.parametrize("due_for_everything", [False, True], ids=["as-seeded", "all-due"])
def test_an_ordinary_store_in_the_same_state_does_call_shopify(ctx, network, caplog,
                                                               due_for_everything):
    # given the same store in the same state, but not marked as the demo
    shop_id = demo_shop_id(ctx)
    db.session.get(Shop, shop_id).demo = False
    db.session.commit()
    if due_for_everything:
        _due_for_everything(db.session, shop_id)
    caplog.set_level(logging.INFO, logger=OUTBOUND_LOGGER)
    # when every periodic job runs
    finished, failed = _run_periodic_jobs_in_process(ctx)
    # then it reached for Shopify (the Admin API, or first the token refresh), and failed
    # on the stub's 401
    assert network.attempts
    assert all(DEMO_DOMAIN in url for url in network.attempts), network.attempts
    assert "jobs.sync.reconcile_shop" in failed
    assert _skip_lines(caplog) == []


def test_seeding_marks_the_demo_store_even_one_seeded_before_the_mark(ctx):
    # given a demo store connected before `shops.demo` existed (the column's default)
    db.session.add(Shop(platform="shopify", domain=DEMO_DOMAIN, currency="USD"))
    db.session.commit()
    # when the demo starts
    shop_id = demo_shop_id(ctx)
    # then the same row is marked
    db.session.expire_all()
    shops = db.session.execute(select(Shop).where(Shop.domain == DEMO_DOMAIN)).scalars().all()
    assert [(s.id, s.demo, s.status) for s in shops] == [(shop_id, True, "active")]


def test_a_store_connected_by_token_is_not_the_demo(ctx, shop):
    assert db.session.get(Shop, shop.id).demo is False


def test_every_outbound_entry_point_refuses_the_demo_store(ctx, network, caplog):
    from app.shops.outbound import OutboundRefused
    from app.shops.tokens import admin_access_token, migrate_to_expiring
    from app.sync import backfill as backfill_runner
    from app.sync import reconcile as reconcile_runner
    from app.sync.sources import backfill_source_for, reconcile_source_for
    from jobs import sync as sync_jobs

    shop_id = demo_shop_id(ctx)
    _due_for_everything(db.session, shop_id)
    caplog.set_level(logging.INFO, logger=OUTBOUND_LOGGER)
    session = db.session
    shop = session.get(Shop, shop_id)

    # credentials are never handed to a connector
    for hand_out in (admin_access_token, migrate_to_expiring, backfill_source_for,
                     reconcile_source_for):
        with pytest.raises(OutboundRefused, match="local demo store, which never calls Shopify"):
            hand_out(session, shop)
        session.rollback()
    # the jobs and the runners skip, each with its line
    assert sync_jobs.reconcile_shop(shop_id)["skipped"] == "the local demo store"
    assert sync_jobs.run_backfill(shop_id)["skipped"] == "the local demo store"
    assert sync_jobs.resume_backfill(shop_id)["skipped"] == "the local demo store"
    assert reconcile_runner.reconcile_shop(session, shop_id).skipped == "the local demo store"
    with pytest.raises(backfill_runner.BackfillError, match="seeded by `flask --app app demo`"):
        backfill_runner.run_backfill(session, shop_id)
    assert network.attempts == []
    assert len(_skip_lines(caplog)) == 4


def test_the_backfill_command_explains_the_demo_store_has_no_history_to_import(
        app, ctx, network):
    demo_shop_id(ctx)
    result = app.test_cli_runner().invoke(args=["backfill", DEMO_DOMAIN])
    assert result.exit_code == 2
    assert f"store {DEMO_DOMAIN} is the local demo store" in result.output
    assert "Traceback" not in result.output
    assert network.attempts == []


def test_opening_the_demo_store_in_the_embedded_panel_exchanges_no_token(
        client, ctx, network):
    from tests.test_shopify_tokens import session_token

    # given the demo store, whose placeholder token never expires (which would normally
    # have the panel swap it for an expiring one)
    demo_shop_id(ctx)
    # when it is opened in the panel with a valid session token
    token = session_token(DEMO_DOMAIN)
    response = client.get(f"/admin?shop={DEMO_DOMAIN}&embedded=1&id_token={token}")
    # then the panel shows, and nothing went to Shopify
    assert response.status_code == 200
    assert network.attempts == []


def test_the_woocommerce_jobs_skip_a_store_marked_as_the_demo(ctx, network, caplog):
    from jobs import woocommerce as woo_jobs
    from tests.test_woo_support import connect_store

    store = connect_store(db.session)
    db.session.get(Shop, store.id).demo = True
    db.session.commit()
    caplog.set_level(logging.INFO, logger=OUTBOUND_LOGGER)
    assert woo_jobs.ensure_webhooks_all() == {"enqueued": []}
    for result in (woo_jobs.ensure_webhooks_for(store.id),
                   woo_jobs.refresh_orders(store.id, ["727"]),
                   woo_jobs.confirm_connection(store.id)):
        assert result["skipped"] == "the local demo store"
    assert network.attempts == []
    lines = _skip_lines(caplog)
    assert len(lines) == 4 and all("never calls WooCommerce" in line for line in lines), lines


def test_the_migration_to_the_demo_mark_keeps_every_store_and_its_data(app, ctx):
    """On SQLite a table rebuild of `shops` (Alembic's batch mode) would drop the old table,
    and with foreign keys on, that deletes every customer and order by cascade."""
    from sqlalchemy import text

    from app.migrate import downgrade, upgrade
    from app.profiles.models import Customer

    def counts() -> tuple[int, int]:
        with db.engine.connect() as conn:
            return (conn.execute(text("SELECT count(*) FROM shops")).scalar_one(),
                    conn.execute(text("SELECT count(*) FROM customers")).scalar_one())

    from alembic.script import ScriptDirectory

    from app.migrate import alembic_config

    # the revision before the one adding the mark, whatever number it was given at merge
    [adding] = [rev for rev in ScriptDirectory.from_config(alembic_config(app)).walk_revisions()
                if (rev.doc or "").startswith("shops.demo")]
    before = adding.down_revision
    db.session.close()
    try:
        # given a store with a customer, on the schema before the mark
        downgrade(app, before)
        db.engine.dispose()
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO shops (id, platform, domain, currency, status, installed_at, "
                "created_at) VALUES (1, 'shopify', 'kept.myshopify.com', 'USD', 'active', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        with db.new_session() as s, s.begin():
            # a Core insert names only the columns given or defaulted, which the old schema
            # has (the model's later columns do not exist yet)
            s.execute(Customer.__table__.insert().values(shop_id=1, email="kept@example.com"))
        # when the mark is added
        upgrade(app)
        db.engine.dispose()
        # then everything is still there, and the store is not the demo
        assert counts() == (1, 1)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT demo FROM shops")).scalar_one() in (False, 0)
        # and taking the mark away again keeps it all too
        downgrade(app, before)
        db.engine.dispose()
        assert counts() == (1, 1)
    finally:
        upgrade(app)
        db.engine.dispose()
