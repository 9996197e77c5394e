"""A worker killed in the middle of a batch loses nothing and doubles nothing."""

from __future__ import annotations

import os
import signal

from sqlalchemy import func, select

from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Customer, Order, OrderLine, TimelineEvent
from app.profiles.store import ProfileStore
from jobs.ingest import sweep_inbox
from tests.conftest import post_webhook, run_worker
from tests.factories import order_payload


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_worker_killed_mid_batch(app, client, shop, monkeypatch):
    emails = [f"c{i}@example.com" for i in range(5)]
    for i in range(35):
        post_webhook(client, "orders/create",
                     order_payload(email=emails[i % 5], total="10.00", placed=i))
    monkeypatch.setitem(app.config, "INGEST_BATCH_SIZE", 10)

    # The work-horse (a forked child, as in production) dies on its 25th order: batches of
    # 10 mean two batches are committed and the third is cut off halfway through.
    applied = {"n": 0}
    real_apply = ProfileStore._apply_order

    def apply_then_die(self, record):
        real_apply(self, record)
        applied["n"] += 1
        if applied["n"] == 25:
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(ProfileStore, "_apply_order", apply_then_die)
    run_worker(app)

    db.session.close()
    statuses = dict(db.session.execute(
        select(InboxEntry.status, func.count()).group_by(InboxEntry.status)).all())
    assert statuses == {"processed": 20, "pending": 15}
    assert count(Order) == 20  # nothing of the cut batch is visible
    assert count(OrderLine) == 20

    # A new worker (the sweep finds the stranded rows) finishes the job.
    monkeypatch.setattr(ProfileStore, "_apply_order", real_apply)
    db.session.close()
    sweep_inbox(older_than_seconds=0)
    run_worker(app)

    db.session.close()
    assert count(InboxEntry) == 35
    assert db.session.execute(select(func.count()).where(
        InboxEntry.status == "processed")).scalar_one() == 35
    assert count(Order) == 35
    assert count(OrderLine) == 35
    placed = db.session.execute(select(func.count()).where(
        TimelineEvent.kind == "order_placed")).scalar_one()
    assert placed == 35
    figures = db.session.execute(select(Customer.orders_count, Customer.total_spent)).all()
    assert sorted(figures) == [(7, 70)] * 5
