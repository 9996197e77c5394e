"""A run killed or failing mid-import resumes after its last committed chunk and ends exactly
as an uninterrupted run does: nothing half-applied, nothing twice."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from app.db import db
from app.imports import apply
from app.imports.apply import run_import
from app.imports.models import ImportRun
from app.imports.service import create_run
from app.profiles.models import Customer, Order, TimelineEvent
from app.queue import get_redis
from tests.imports.support import prepared

KILLED = 77
CUSTOMERS = "Email,First Name,Accepts Email Marketing\n" + "".join(
    f"c{n}@example.com,Name{n},{'yes' if n % 2 else ''}\n" for n in range(1, 12))
ORDERS = "Order ID,Email,Total,Created at,Item\n" + "".join(
    f"{n},c{n % 4}@example.com,{n}.50,2025-0{1 + n % 9}-1{n % 10},Thing {n}\n"
    for n in range(1, 12))


def _state(shop) -> dict:
    """Everything an import writes for the shop, ids left out."""
    customers = db.session.execute(
        select(Customer.email_normalized, Customer.first_name, Customer.email_marketing,
               Customer.orders_count, Customer.total_spent, Customer.first_order_at)
        .where(Customer.shop_id == shop.id).order_by(Customer.email_normalized)).all()
    orders = db.session.execute(
        select(Order.platform_order_id, Order.total_price, Order.placed_at, Customer.email)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.shop_id == shop.id).order_by(Order.platform_order_id)).all()
    timeline = db.session.execute(
        select(TimelineEvent.kind, func.count()).where(TimelineEvent.shop_id == shop.id)
        .group_by(TimelineEvent.kind).order_by(TimelineEvent.kind)).all()
    db.session.commit()
    return {"customers": [tuple(r) for r in customers], "orders": [tuple(r) for r in orders],
            "timeline": [tuple(r) for r in timeline]}


def _planned(shop, kind: str, text: str) -> int:
    return create_run(db.session, shop, prepared(shop, kind, text), filename="f.csv").id


def _killed_after_chunks(run_id: int, chunks: int) -> int:
    """Import in a child process that dies (no cleanup, as a killed worker) right after
    committing `chunks` chunks; its exit status."""
    db.session.close()
    pid = os.fork()
    if pid == 0:
        try:
            done = []

            def die(_run) -> None:
                done.append(1)
                if len(done) == chunks:
                    os._exit(KILLED)

            apply.checkpoints["chunk_committed"] = die
            run_import(db.session, run_id, chunk_size=3)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("kind, text", [("customers", CUSTOMERS), ("orders", ORDERS)])
def test_a_killed_import_resumes_to_the_same_state_as_an_uninterrupted_one(
        shop, other_shop, kind, text):
    # given the same file imported without interruption into another store
    run_import(db.session, _planned(other_shop, kind, text), chunk_size=3)
    expected = _state(other_shop)
    # when the import into this store is killed after 2 of its 4 chunks
    run_id = _planned(shop, kind, text)
    assert _killed_after_chunks(run_id, 2) == KILLED
    run = db.session.get(ImportRun, run_id)
    assert (run.status, run.cursor) == ("running", 6)
    assert len(_state(shop)["customers" if kind == "customers" else "orders"]) == 6
    # and resumed once the dead worker's lock has expired
    get_redis().delete(f"sticky:import:{shop.id}")
    run = run_import(db.session, run_id, chunk_size=3)
    # then it is complete, with the same rows as the uninterrupted run, none twice
    assert (run.status, run.cursor, run.created) == ("completed", 11, 11)
    assert _state(shop) == expected


def test_a_chunk_that_fails_is_not_half_applied_and_the_rerun_completes(shop, other_shop,
                                                                        monkeypatch):
    run_import(db.session, _planned(other_shop, "customers", CUSTOMERS), chunk_size=3)
    expected = _state(other_shop)
    run_id = _planned(shop, "customers", CUSTOMERS)
    calls = []

    def fail_on_second(_run) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")

    monkeypatch.setitem(apply.checkpoints, "chunk_written", fail_on_second)
    with pytest.raises(RuntimeError):
        run_import(db.session, run_id, chunk_size=3)
    run = db.session.get(ImportRun, run_id)
    assert (run.status, run.cursor, run.error) == ("failed", 3, "database went away")
    assert len(_state(shop)["customers"]) == 3  # the failed chunk's rows are not there
    monkeypatch.delitem(apply.checkpoints, "chunk_written")
    run = run_import(db.session, run_id, chunk_size=3)
    assert (run.status, run.created) == ("completed", 11)
    assert _state(shop) == expected
