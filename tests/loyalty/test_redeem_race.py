"""Two workers racing to redeem the last points: one code, never an overdraft.

Real threads, each with its own app context, database session and connection, started
together; the platform answers slowly so the second arrives while the first's code is still
being made (its points held, not yet taken)."""

from __future__ import annotations

import threading

import responses
from sqlalchemy import func, select

from app.db import db
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, Redemption
from app.loyalty.redeem import RedemptionRefused, redeem
from app.shops.models import Shop
from tests.loyalty.rewards_support import FakeShopify, enable_program, member, reward

WORKERS = 4


def test_workers_racing_for_the_last_points_cannot_overspend(app, shop):
    enable_program(shop)
    bob = member(shop, 300)  # exactly one reward's worth
    ten_off = reward(shop, points_cost=300)
    shop_id, bob_id, reward_id = shop.id, bob.id, ten_off.id
    db.session.commit()
    start = threading.Barrier(WORKERS)
    outcomes: list[object] = []

    def worker() -> None:
        with app.app_context():
            store = db.session.get(Shop, shop_id)
            db.session.commit()
            start.wait()
            try:
                outcomes.append(redeem(db.session, store, bob_id, reward_id)["status"])
            except RedemptionRefused as exc:
                outcomes.append(exc.reason)
            except Exception as exc:  # noqa: BLE001 - a crash is an outcome the test reports
                outcomes.append(repr(exc))
            finally:
                db.session.rollback()

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        shopify = FakeShopify(rsps)
        shopify.delay = 0.3
        threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert sorted(outcomes, key=str) == sorted(
        ["issued"] + ["You need 300 more points for this reward."] * (WORKERS - 1), key=str)
    assert shopify.creations == 1
    db.session.expire_all()
    assert ledger.balance(db.session, shop_id, bob_id) == 0
    assert db.session.scalar(select(func.sum(LedgerEntry.points)).where(
        LedgerEntry.customer_id == bob_id)) == 0
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
