"""The panel benchmark's machinery (benchmarks/panel.py): it refuses SQLite, generates the
store it was asked for with figures that agree with the orders, times every page or says why
not, and reuses the store on the next run. Its figures are not checked: they are the
benchmark's to print, not a test's to time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import db
from app.profiles.models import Cart, Customer, Order, OrderLine, Refund, TimelineEvent
from app.shops.models import Shop
from benchmarks import panel

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRESQL = os.environ.get("DATABASE_URL", "").startswith("postgres")
# A page's line: its label, then median, p95, max, the ratio (not for baselines), statements,
# SQL ms and KB; or why it has no figures.
TIMED = re.compile(r"^  .{48} +\d+\.\d +\d+\.\d +\d+\.\d +(\d+\.\dx +)?\d+ +\d+\.\d +\d+\.\d$")
NOT_AVAILABLE = re.compile(r"^  .{48} not available \(HTTP \d{3}\)$")


def page_lines(stdout: str) -> list[str]:
    table = stdout.split("server time per request", 1)[1].split("\naim ", 1)[0]
    return [line for line in table.splitlines()[2:] if line.startswith("  ")]


def run_benchmark(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/panel.py", "--customers", "300", "--orders", "1500",
         "--repeat", "2", "--warmup", "1", *extra],
        cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=180)


def test_panel_benchmark_refuses_sqlite_and_says_what_to_pass(monkeypatch):
    # given no PostgreSQL database
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for argv in ([], ["--database-url", "sqlite:///instance/sticky.db"]):
        # when the benchmark starts, then it stops before touching anything, saying why
        with pytest.raises(SystemExit, match=r"needs PostgreSQL.*--database-url postgresql://"):
            panel.main(argv)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the panel benchmark runs on PostgreSQL only")
def test_panel_benchmark_generates_the_store_asked_for_and_times_every_page(app):
    # given the suite's (emptied) database
    # when the benchmark runs on it
    first = run_benchmark()

    # then it generated the store and printed a line for every page
    assert first.returncode == 0, first.stdout + first.stderr
    assert "generated in" in first.stdout
    assert "; 0 customers whose figures disagree with their orders" in first.stdout
    lines = page_lines(first.stdout)
    assert len(lines) == 15, lines  # 3 baselines, 6 panel pages, 6 /api requests
    assert all(TIMED.match(line) for line in lines[:3]), lines[:3]
    assert all(TIMED.match(line) or NOT_AVAILABLE.match(line) for line in lines), lines
    assert TIMED.match(next(line for line in lines if "GET /api/customers  " in line))

    # and the store holds what was asked for
    with app.app_context():
        session = db.session
        shop = session.execute(select(Shop).where(
            Shop.domain == "panel-bench-300-1500.myshopify.com")).scalar_one()
        assert shop.timezone == "America/New_York"
        customers = session.execute(select(Customer).where(Customer.shop_id == shop.id)
                                    ).scalars().all()
        orders = session.execute(select(Order).where(Order.shop_id == shop.id)).scalars().all()
        assert (len(customers), len(orders)) == (300, 1500)
        assert any(c.platform_customer_id is None for c in customers)  # guests
        assert {c.email_marketing for c in customers} == {"subscribed", "unsubscribed",
                                                          "not_subscribed"}
        lines_per_order = Counter(dict(session.execute(
            select(OrderLine.order_id, func.count()).where(OrderLine.shop_id == shop.id)
            .group_by(OrderLine.order_id)).all()))
        assert set(lines_per_order) == {o.id for o in orders}
        assert set(lines_per_order.values()) == {1, 2, 3, 4}
        refunds = session.execute(select(Refund).where(Refund.shop_id == shop.id)).scalars().all()
        assert 20 <= len(refunds) <= 140  # about 5% of the orders
        assert sum(r.amount for r in refunds) == sum(o.total_refunded for o in orders)
        assert 5 <= sum(o.cancelled_at is not None for o in orders) <= 60  # about 2%
        assert session.execute(select(func.count()).select_from(Cart)
                               .where(Cart.shop_id == shop.id)).scalar() > 0
        placed = session.execute(select(func.count()).select_from(TimelineEvent).where(
            TimelineEvent.shop_id == shop.id, TimelineEvent.kind == "order_placed")).scalar()
        assert placed == sum(o.customer_id is not None for o in orders)

        # and every profile's figures are its counted orders' (not cancelled, voided or test)
        for customer in customers:
            counted = [o for o in orders if o.customer_id == customer.id and o.cancelled_at is None
                       and o.financial_status != "voided" and not o.test]
            assert customer.orders_count == len(counted)
            assert customer.total_spent == sum((o.total_price - o.total_refunded
                                                for o in counted), Decimal("0"))
            assert customer.last_order_at == max((o.placed_at for o in counted), default=None)
        session.rollback()

    # when it runs again, then it reuses the store
    second = run_benchmark("--repeat", "1")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reused" in second.stdout and "generating" not in second.stdout
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Customer)).scalar() == 300
