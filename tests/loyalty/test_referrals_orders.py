"""The advocate's reward: pending from the friend's first paid order for the return window,
exactly once, taken back by a full refund or cancellation inside the window; the order-time
fraud checks; and the merchant's approval of a blocked referral. Orders arrive as Shopify
webhooks through the inbox, the profile store and the loyalty subscriber."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.db import utcnow
from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.profiles.models import TimelineEvent
from tests.conftest import post_webhook, run_worker
from tests.factories import BASE_TIME, customer_payload, order_payload, refund_payload
from tests.loyalty.referral_support import (
    claim,
    friend_code_of,
    make_advocate,
    minutes_from_base,
    referral_for,
    release_due,
    run_referrals,
)

FRIEND = "grace.hopper@example.com"


@pytest.fixture
def advocate(shop, session, shopify_discounts):
    run_referrals(session, shop)
    return make_advocate(session, shop)


def _at(address1: str, payload: dict) -> dict:
    for key in ("shipping_address", "billing_address"):
        payload[key] = {**payload[key], "address1": address1}
    return payload


def friend_order(*, minutes_after_now: float = 1, email: str = FRIEND,
                 address: str = "1 Friend Way", financial_status: str = "paid",
                 friend: dict | None = None, **kwargs) -> dict:
    """A friend's order placed (and paid) shortly after now: after their claim."""
    moment = minutes_from_base(utcnow()) + minutes_after_now
    friend = friend or customer_payload(email=email, first_name="Grace", last_name="Hopper",
                                        updated=moment)
    return _at(address, order_payload(customer=friend, email=email, placed=moment,
                                      updated=moment, financial_status=financial_status,
                                      **kwargs))


def deliver(app, client, *deliveries) -> None:
    for topic, payload in deliveries:
        assert post_webhook(client, topic, payload).status_code == 200
    run_worker(app)


def referral_entries(session, shop_id: int) -> list[LedgerEntry]:
    session.expire_all()
    return list(session.execute(select(LedgerEntry).where(
        LedgerEntry.shop_id == shop_id, LedgerEntry.source == "referral")
        .order_by(LedgerEntry.id)).scalars())


def paid_time(order: dict) -> datetime:
    return datetime.fromisoformat(order["updated_at"])


def test_a_clean_referral_credits_the_advocate_once_and_only_after_the_window(
        app, client, shop, session, advocate):
    customer, code = advocate
    page = claim(client, shop, code, FRIEND).get_data(as_text=True)
    assert friend_code_of(session, FRIEND) in page
    order = friend_order()
    deliver(app, client, ("orders/create", order))

    [entry] = referral_entries(session, shop.id)
    referral = referral_for(session, FRIEND)
    assert referral.status == "rewarded" and referral.platform_order_id == str(order["id"])
    assert (entry.kind, entry.status, entry.points) == ("pending", "pending", 500)
    assert entry.key == f"referral:{referral.id}:advocate" and entry.customer_id == customer.id
    assert entry.available_at == paid_time(order) + timedelta(days=14)
    assert ledger.balance(session, shop.id, customer.id) == 0
    assert session.get(LoyaltyMember, customer.id).pending_points == 500
    notice = session.execute(select(TimelineEvent).where(
        TimelineEvent.customer_id == customer.id,
        TimelineEvent.kind == "referral_completed")).scalar_one()
    assert notice.data["points"] == 500

    # the same order again (redelivered, then updated), and the events replayed
    deliver(app, client, ("orders/create", order), ("orders/paid", order),
            ("orders/updated", {**order, "updated_at": order["updated_at"]}))
    result = app.test_cli_runner().invoke(args=["events", "replay", "loyalty", "--shop",
                                                shop.domain])
    assert result.exit_code == 0, result.output
    run_worker(app)
    assert len(referral_entries(session, shop.id)) == 1

    # released by the program's periodic job only once the window has passed
    assert release_due(session, shop.id, entry.available_at - timedelta(seconds=1)) == 0
    assert ledger.balance(session, shop.id, customer.id) == 0
    assert release_due(session, shop.id, entry.available_at) == 500
    assert release_due(session, shop.id, entry.available_at + timedelta(days=1)) == 0
    assert ledger.balance(session, shop.id, customer.id) == 500


def test_a_longer_pending_period_of_the_program_holds_the_points_longer(
        app, client, shop, session, advocate):
    run_referrals(session, shop, pending_days=30)
    claim(client, shop, advocate[1], FRIEND)
    order = friend_order()
    deliver(app, client, ("orders/create", order))
    [entry] = referral_entries(session, shop.id)
    assert entry.available_at == paid_time(order) + timedelta(days=30)


def test_a_full_refund_inside_the_window_takes_the_points_back_before_release(
        app, client, shop, session, advocate):
    customer, code = advocate
    claim(client, shop, code, FRIEND)
    order = friend_order(total="80.00")
    deliver(app, client, ("orders/create", order))
    # a partial refund: the friend did buy; nothing changes
    deliver(app, client, ("refunds/create", refund_payload(
        order_id=order["id"], amount="30.00", minutes=minutes_from_base(utcnow()) + 60)))
    assert len(referral_entries(session, shop.id)) == 1

    deliver(app, client, ("refunds/create", refund_payload(
        order_id=order["id"], amount="50.00", minutes=minutes_from_base(utcnow()) + 120)))
    pending, reversal = referral_entries(session, shop.id)
    referral = referral_for(session, FRIEND)
    assert (reversal.kind, reversal.status, reversal.points) == ("reverse", "pending", -500)
    assert reversal.key == f"referral:{referral.id}:reversed" and reversal.parent_id == pending.id
    assert referral.status == "cancelled" and "refunded in full" in referral.block_reason
    assert session.get(LoyaltyMember, customer.id).pending_points == 0

    assert release_due(session, shop.id, pending.available_at + timedelta(days=1)) == 0
    assert ledger.balance(session, shop.id, customer.id) == 0


def test_a_refund_after_the_window_leaves_the_points(app, client, shop, session, advocate):
    claim(client, shop, advocate[1], FRIEND)
    order = friend_order()
    deliver(app, client, ("orders/create", order))
    late = minutes_from_base(paid_time(order) + timedelta(days=15))
    deliver(app, client, ("refunds/create", refund_payload(order_id=order["id"],
                                                           amount="100.00", minutes=late)))
    assert [e.kind for e in referral_entries(session, shop.id)] == ["pending"]
    assert referral_for(session, FRIEND).status == "rewarded"


def test_a_cancelled_order_inside_the_window_takes_the_points_back(
        app, client, shop, session, advocate):
    claim(client, shop, advocate[1], FRIEND)
    order = friend_order()
    deliver(app, client, ("orders/create", order))
    cancelled = {**order, "cancelled_at": order["updated_at"], "financial_status": "voided"}
    cancelled["updated_at"] = (paid_time(order) + timedelta(hours=2)).isoformat()
    cancelled["cancelled_at"] = cancelled["updated_at"]
    deliver(app, client, ("orders/cancelled", cancelled))
    assert [e.kind for e in referral_entries(session, shop.id)] == ["pending", "reverse"]
    assert "cancelled" in referral_for(session, FRIEND).block_reason


def test_an_order_that_is_not_the_friends_first_is_blocked(app, client, shop, session,
                                                           advocate):
    claim(client, shop, advocate[1], FRIEND)
    friend = customer_payload(email=FRIEND, first_name="Grace", last_name="Hopper",
                              updated=minutes_from_base(utcnow()) + 1)
    unpaid = friend_order(friend=friend, financial_status="pending", minutes_after_now=1)
    paid = friend_order(friend=friend, minutes_after_now=2)
    deliver(app, client, ("orders/create", unpaid), ("orders/create", paid))

    referral = referral_for(session, FRIEND)
    assert referral.status == "blocked"
    assert "is not the friend's first order" in referral.block_reason
    assert referral_entries(session, shop.id) == []


def test_an_order_to_the_advocates_address_is_blocked(app, client, shop, session, advocate):
    customer, code = advocate
    own = _at("12 Analytical Engine Row", order_payload(
        customer=customer_payload(customer_id=int(customer.platform_customer_id),
                                  email=customer.email, first_name="Ada",
                                  last_name="Lovelace"),
        email=customer.email, placed=1, updated=1))
    deliver(app, client, ("orders/create", own))
    claim(client, shop, code, FRIEND)
    # the same address, written differently
    deliver(app, client, ("orders/create", friend_order(address="12, ANALYTICAL engine row")))

    referral = referral_for(session, FRIEND)
    assert referral.status == "blocked"
    assert "ships or bills to the same address as the advocate's order" in referral.block_reason
    assert referral_entries(session, shop.id) == []


def test_approving_a_blocked_referral_credits_the_advocate(app, client, shop, session,
                                                           advocate):
    customer, code = advocate
    own = _at("12 Analytical Engine Row", order_payload(
        customer=customer_payload(customer_id=int(customer.platform_customer_id),
                                  email=customer.email), email=customer.email))
    deliver(app, client, ("orders/create", own))
    claim(client, shop, code, FRIEND)
    order = friend_order(address="12 Analytical Engine Row")
    deliver(app, client, ("orders/create", order))
    referral = referral_for(session, FRIEND)
    assert referral.status == "blocked"

    from app.loyalty.referrals import approve

    approve(session, shop, referral.id, reviewed_by="owner@store.example")
    approve_again = referral_for(session, FRIEND)
    assert approve_again.status == "rewarded"
    assert approve_again.reviewed_by == "owner@store.example"
    [entry] = referral_entries(session, shop.id)
    assert entry.points == 500 and entry.customer_id == customer.id
    assert entry.available_at == paid_time(order) + timedelta(days=14)
    # a replay after the approval adds nothing
    app.test_cli_runner().invoke(args=["events", "replay", "loyalty", "--shop", shop.domain])
    run_worker(app)
    assert len(referral_entries(session, shop.id)) == 1


def test_a_referral_approved_before_the_order_skips_the_checks_when_it_comes(
        app, client, shop, session, advocate):
    customer, code = advocate
    page = claim(client, shop, code, FRIEND, first="Ada", last="Lovelace")
    assert "not available" in page.get_data(as_text=True)
    referral = referral_for(session, FRIEND)

    from app.loyalty.referrals import approve

    outcome = approve(session, shop, referral.id, reviewed_by="owner@store.example")
    assert outcome.status == "issued" and outcome.code
    assert outcome.code in claim(client, shop, code, FRIEND).get_data(as_text=True)
    deliver(app, client, ("orders/create", friend_order()))
    assert referral_for(session, FRIEND).status == "rewarded"
    assert [e.points for e in referral_entries(session, shop.id)] == [500]


def test_an_order_placed_before_the_claim_is_not_a_referred_first_order(
        app, client, shop, session, advocate):
    deliver(app, client, ("orders/create", _at("1 Friend Way", order_payload(
        email=FRIEND, placed=minutes_from_base(BASE_TIME), updated=1))))
    page = claim(client, shop, advocate[1], FRIEND)
    assert "not available" in page.get_data(as_text=True)
    assert "they ordered on 2026-03-01" in referral_for(session, FRIEND).block_reason
