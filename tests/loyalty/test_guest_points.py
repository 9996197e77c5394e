"""A guest's points follow the shopper into their account, through the webhooks that make
the profile store claim or merge the guest profile."""

from __future__ import annotations

from sqlalchemy import select

from app.db import db
from app.loyalty import ledger
from app.loyalty.models import LoyaltyMember, Writeback
from app.profiles.models import Customer
from tests.factories import customer_payload, order_payload, refund_payload
from tests.loyalty.earning_support import (
    balance,
    customer,
    deliver,
    enable,
    entries,
    pending,
    settle,
)

GUEST = "sam@example.com"


def test_a_guest_who_registers_keeps_the_points_of_their_guest_orders(app, client, shop):
    enable(shop, signup_points=50, first_order_points=10)
    # a guest checkout earns for the guest's profile
    deliver(client, "orders/paid", order_payload(order_id=3001, email=GUEST, total="42.00"))
    settle(app)
    guest = customer(shop, GUEST)
    assert guest.platform_customer_id is None
    assert balance(shop, guest.id) == 52
    # when the shopper creates an account with the same email
    deliver(client, "customers/create", customer_payload(customer_id=207119551, email=GUEST,
                                                         updated=5))
    settle(app)
    # then it is the same profile, now an account, with its points and a sign-up bonus
    member = customer(shop, GUEST)
    assert (member.id, member.platform_customer_id) == (guest.id, "207119551")
    assert sorted((e.key, e.points) for e in entries(shop, member.id)) == [
        (f"first_order:{guest.id}", 10), ("order:3001:purchase", 42),
        ("signup:207119551", 50)]
    assert balance(shop, member.id) == 102


def test_a_guest_merged_into_an_existing_account_brings_its_points_and_their_refunds(
        app, client, shop):
    enable(shop, pending_days=0)
    # given an account (another email) with an order, and a guest order under sam's email
    account = customer_payload(customer_id=207119551, email="sam.old@example.com", updated=0)
    deliver(client, "customers/create", account)
    deliver(client, "orders/paid", order_payload(order_id=3002, customer=account,
                                                 email="sam.old@example.com", total="30.00"))
    deliver(client, "orders/paid", order_payload(order_id=3003, email=GUEST, total="70.00"))
    settle(app)
    account_id = customer(shop, "sam.old@example.com").id
    guest_id = customer(shop, GUEST).id
    assert (balance(shop, account_id), balance(shop, guest_id)) == (30, 70)
    db.session.rollback()
    db.session.execute(Writeback.__table__.delete())  # as if the platform were up to date
    db.session.commit()
    # when the account changes its email to the guest's: the profile store merges them
    deliver(client, "customers/update", customer_payload(customer_id=207119551, email=GUEST,
                                                         updated=10))
    settle(app)
    # then one profile holds both orders' points, and the platform is to be told
    assert db.session.get(Customer, guest_id) is None
    assert balance(shop, account_id) == 100
    assert {e.key for e in entries(shop, account_id)} == {"order:3002:purchase",
                                                          "order:3003:purchase"}
    assert db.session.get(Writeback, account_id).due_at is not None
    member = db.session.get(LoyaltyMember, account_id)
    assert (member.lifetime_points, pending(shop, account_id)) == (100, 0)
    # and a refund of the guest order takes back from the account
    deliver(client, "refunds/create", refund_payload(order_id=3003, amount="70.00",
                                                     refund_id=9301))
    settle(app)
    assert balance(shop, account_id) == 30
    db.session.rollback()
    ledger.recompute(db.session, shop.id)
    db.session.commit()
    assert balance(shop, account_id) == 30
    assert db.session.execute(select(LoyaltyMember.customer_id)).scalars().all() == [account_id]
