"""Refunds and cancellations take points back at the rate the order earned them; pending
points wait for the return window; the negative-balance policy decides about spent points."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.db import db, utcnow
from app.loyalty import ledger
from app.loyalty.program import save_program
from app.loyalty.release import release_due
from jobs.loyalty import release_due as release_due_job
from tests.factories import customer_payload, order_payload, refund_payload
from tests.loyalty.earning_support import (
    balance,
    customer,
    deliver,
    enable,
    entries,
    minutes_from_base,
    order_row,
    pending,
    settle,
    summary,
)

ADA = "ada@example.com"
ORDER = 450789469


def paid(total: str = "100.00", order_id: int = ORDER, **kwargs) -> dict:
    return order_payload(order_id=order_id, customer=customer_payload(customer_id=207119551,
                                                                      email=ADA),
                         email=ADA, total=total, **kwargs)


def refund(client, amount: str, refund_id: int, minutes: float = 60,
           order_id: int = ORDER) -> None:
    deliver(client, "refunds/create", refund_payload(order_id=order_id, amount=amount,
                                                     refund_id=refund_id, minutes=minutes))


def test_partial_then_full_refund_take_back_at_the_rate_the_order_earned(app, client, shop):
    # given an order of 99.99 that earned at 1.5 points per unit, and a first-order bonus
    enable(shop, points_per_unit="1.5", first_order_points=25)
    deliver(client, "orders/paid", paid("99.99"))
    settle(app)
    ada = customer(shop, ADA)
    assert balance(shop, ada.id) == 149 + 25
    award = next(e for e in entries(shop) if e.key == f"order:{ORDER}:purchase")
    # when the merchant changes the rule, then refunds a third
    db.session.rollback()
    save_program(db.session, shop.id, {"points_per_unit": "10"})
    db.session.commit()
    refund(client, "33.33", 9001, minutes=60)
    settle(app)
    # then 66.66 kept × 1.5 = 99.99 → 99 points stay: 50 go, at 1.5, the bonus stays
    first = entries(shop)[-1]
    assert (first.kind, first.points, first.status, first.source) == ("reverse", -50,
                                                                      "available", "refund")
    assert (first.key, first.rate, first.parent_id) == (f"refund:9001:{award.id}",
                                                        Decimal("1.5"), award.id)
    assert first.order_id == order_row(shop, ORDER).id
    # when the program is switched off and the rest is refunded
    db.session.rollback()
    save_program(db.session, shop.id, {"enabled": False})
    db.session.commit()
    refund(client, "66.66", 9002, minutes=120)
    settle(app)
    # then the order's points and its bonus are all gone, and nothing else moved
    assert [(e.kind, e.points, e.key) for e in entries(shop)[-2:]] == [
        ("reverse", -99, f"refund:9002:{award.id}"),
        ("reverse", -25, f"refund:9002:{award.id + 1}")]
    assert balance(shop, ada.id) == 0
    assert sum(e.points for e in entries(shop) if e.order_id == award.order_id) == 0


def test_the_same_refund_delivered_twice_and_in_the_order_payload_takes_back_once(
        app, client, shop):
    enable(shop)
    deliver(client, "orders/paid", paid("100.00"))
    settle(app)
    refund(client, "40.00", 9001)
    refund(client, "40.00", 9001)
    deliver(client, "orders/updated", paid("100.00", updated=90, financial_status=
                                           "partially_refunded",
                                           refunds=[refund_payload(order_id=ORDER,
                                                                   amount="40.00",
                                                                   refund_id=9001)]))
    settle(app)
    assert summary(shop) == [("earn", 100, "available"), ("reverse", -40, "available")]


def test_a_cancellation_takes_back_everything_left(app, client, shop):
    enable(shop, first_order_points=10)
    deliver(client, "orders/paid", paid("80.00"))
    refund(client, "20.00", 9001)
    settle(app)
    deliver(client, "orders/cancelled", paid("80.00", updated=120, cancelled=True))
    settle(app)
    ada = customer(shop, ADA)
    award_ids = [e.id for e in entries(shop) if e.kind == "earn"]
    cancels = [(e.points, e.key, e.source) for e in entries(shop) if e.key.startswith("cancel")]
    assert cancels == [(-60, f"cancel:{ORDER}:{award_ids[0]}", "cancellation"),
                       (-10, f"cancel:{ORDER}:{award_ids[1]}", "cancellation")]
    assert balance(shop, ada.id) == 0


def spend(shop, customer_id: int, points: int, key: str) -> None:
    """A redemption, as the rewards module writes it: under the member's lock, if spendable."""
    db.session.rollback()
    ledger.lock_member(db.session, shop.id, customer_id)
    assert ledger.spendable(db.session, shop.id, customer_id) >= points
    ledger.append(db.session, shop.id, ledger.NewEntry(
        customer_id=customer_id, kind="redeem", points=-points, reason="$5 off",
        source="reward", key=key))
    db.session.commit()


@pytest.mark.parametrize("policy", ["allow", "floor_zero"])
def test_points_already_spent_follow_the_stores_negative_balance_policy(app, client, shop,
                                                                        policy):
    # given 100 points earned and 80 of them spent
    enable(shop, negative_balance=policy)
    deliver(client, "orders/paid", paid("100.00"))
    settle(app)
    ada = customer(shop, ADA)
    spend(shop, ada.id, 80, "redeem:1")
    # when the order is refunded in full
    refund(client, "100.00", 9001)
    settle(app)
    # then the reversal is written in full either way
    rows = entries(shop)
    reversal = rows[2]
    assert (reversal.kind, reversal.points) == ("reverse", -100)
    if policy == "allow":
        assert len(rows) == 3 and balance(shop, ada.id) == -80
    else:
        # and the shortfall is forgiven by a rule entry that says so
        shortfall = rows[3]
        assert (shortfall.kind, shortfall.points, shortfall.source) == ("adjust", 80, "rule")
        assert (shortfall.key, shortfall.parent_id) == (f"shortfall:{reversal.id}",
                                                        reversal.id)
        assert "80 of the 100 points taken back had already been spent" in shortfall.reason
        assert balance(shop, ada.id) == 0
    # the order's own entries net to what it kept: nothing
    assert sum(e.points for e in rows if e.order_id == reversal.order_id) == 0


def test_pending_points_wait_for_the_return_window_and_a_refund_inside_it_is_never_released(
        app, client, shop):
    # given points pending for 14 days after the order is paid
    enable(shop, pending_days=14, first_order_points=10)
    now = utcnow()
    deliver(client, "orders/paid", paid("100.00", placed=minutes_from_base(now),
                                        updated=minutes_from_base(now)))
    settle(app)
    ada = customer(shop, ADA)
    award = entries(shop)[0]
    assert (award.kind, award.status, award.points) == ("pending", "pending", 100)
    assert abs(award.available_at - (now + timedelta(days=14))) < timedelta(seconds=1)
    # then they cannot be spent yet
    assert (balance(shop, ada.id), pending(shop, ada.id)) == (0, 110)
    assert ledger.spendable(db.session, shop.id, ada.id) == 0
    db.session.rollback()
    assert release_due(db.session, now=now + timedelta(days=13)) == 0
    # when 40.00 is refunded inside the window
    refund(client, "40.00", 9001, minutes=minutes_from_base(now + timedelta(days=2)))
    settle(app)
    taken = entries(shop)[-1]
    assert (taken.kind, taken.points, taken.status) == ("reverse", -40, "pending")
    assert (balance(shop, ada.id), pending(shop, ada.id)) == (0, 70)
    # and the window ends
    db.session.rollback()
    assert release_due(db.session, now=now + timedelta(days=14, minutes=1)) == 60 + 10
    # then what the refund left is spendable, and nothing is released twice
    releases = [(e.points, e.key, e.parent_id) for e in entries(shop) if e.kind == "release"]
    assert releases == [(60, f"release:{award.id}", award.id),
                        (10, f"release:{award.id + 1}", award.id + 1)]
    assert (balance(shop, ada.id), pending(shop, ada.id)) == (70, 0)
    db.session.rollback()
    assert release_due(db.session, now=now + timedelta(days=30)) == 0
    # a refund after the window takes from the spendable balance
    refund(client, "60.00", 9002, minutes=minutes_from_base(now + timedelta(days=20)))
    settle(app)
    assert [(e.points, e.status) for e in entries(shop)[-2:]] == [(-60, "available"),
                                                                  (-10, "available")]
    assert (balance(shop, ada.id), pending(shop, ada.id)) == (0, 0)
    db.session.rollback()
    assert ledger.recompute(db.session, shop.id) == 1
    db.session.commit()
    assert (balance(shop, ada.id), pending(shop, ada.id)) == (0, 0)


def test_an_award_refunded_in_full_inside_the_window_is_never_released(app, client, shop):
    enable(shop, pending_days=14)
    deliver(client, "orders/paid", paid("50.00"))  # paid in March: its window is long over
    refund(client, "50.00", 9001)
    settle(app)
    db.session.rollback()
    assert release_due_job() == {"released": 0}
    assert summary(shop) == [("pending", 50, "pending"), ("reverse", -50, "pending")]


def test_the_periodic_job_releases_what_is_due(app, client, shop):
    enable(shop, pending_days=14)
    deliver(client, "orders/paid", paid("50.00"))  # paid in March: due long ago
    settle(app)
    db.session.rollback()
    assert release_due_job() == {"released": 50}
    assert release_due_job() == {"released": 0}
    assert summary(shop) == [("pending", 50, "pending"), ("release", 50, "available")]
    assert balance(shop, customer(shop, ADA).id) == 50
