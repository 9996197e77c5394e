"""Redeeming points for a single-use code: held first, made on the platform, then taken;
refused, lost and retried answers never leave anything half done or a code made twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from sqlalchemy import func, select, update

from app.db import db, utcnow
from app.events.models import StoredEvent
from app.loyalty import issuing, ledger
from app.loyalty.models import LedgerEntry, Redemption, Writeback
from app.loyalty.redeem import RedemptionRefused, issue_discount, redeem
from app.profiles.models import TimelineEvent
from jobs.loyalty_redeem import retry_redemption, sweep_held_redemptions
from tests.loyalty.rewards_support import (
    FakeShopify,
    FakeWoo,
    enable_program,
    member,
    reward,
    woo_shop,
)


@pytest.fixture
def shopify():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeShopify(rsps)


@pytest.fixture
def program(shop):
    enable_program(shop)
    return shop


def retry(redemption_id: int) -> str:
    """The retry job, as a worker runs it: in a session of its own (the test's is ended
    first, as a worker's would be: on SQLite an open transaction holds the write lock)."""
    db.session.commit()
    return retry_redemption(redemption_id)["status"]


def sweep() -> dict:
    db.session.commit()
    return sweep_held_redemptions()


def redeem_entries(customer_id: int) -> list[LedgerEntry]:
    db.session.expire_all()
    return list(db.session.execute(select(LedgerEntry).where(
        LedgerEntry.customer_id == customer_id, LedgerEntry.kind == "redeem")).scalars())


def test_a_redemption_makes_one_code_for_that_shopper_and_takes_the_points(program, shopify):
    shop = program
    bob = member(shop, 500)
    ten_off = reward(shop)

    result = redeem(db.session, shop, bob.id, ten_off.id)

    assert result["status"] == "issued"
    assert result["code"].startswith("STICKY-") and len(result["code"]) == 17
    assert result["points"] == 300 and result["expires_at"] is not None
    assert shopify.creations == 1
    (sent,) = shopify.named("DiscountCodeBasicCreate")
    discount = sent["basicCodeDiscount"]
    assert discount["code"] == result["code"]
    assert discount["usageLimit"] == 1 and discount["appliesOncePerCustomer"] is True
    assert discount["context"] == {"customers": {"add": ["gid://shopify/Customer/207119551"]}}
    assert ledger.balance(db.session, shop.id, bob.id) == 200
    assert ledger.spendable(db.session, shop.id, bob.id) == 200
    (entry,) = redeem_entries(bob.id)
    assert (entry.points, entry.source, entry.key) == (-300, "reward",
                                                       f"redemption:{result['id']}")
    row = db.session.get(Redemption, result["id"])
    assert row.platform_discount_id == shopify.codes[result["code"]]
    assert row.issued_at is not None
    # the shopper's timeline and the flows hear of it; the platform will be told the balance
    assert db.session.scalar(select(func.count()).select_from(TimelineEvent).where(
        TimelineEvent.kind == "reward_redeemed")) == 1
    assert db.session.scalar(select(func.count()).select_from(StoredEvent).where(
        StoredEvent.kind == "reward_redeemed")) == 1
    assert db.session.get(Writeback, bob.id).due_at is not None


def test_a_refused_code_leaves_the_balance_untouched_and_no_code(program, shopify):
    shop = program
    bob = member(shop, 500)
    shopify.refuse = True

    result = redeem(db.session, shop, bob.id, reward(shop).id)

    assert result["status"] == "failed"
    assert "Customer does not exist" in result["error"]
    assert shopify.codes == {}
    assert redeem_entries(bob.id) == []
    assert ledger.balance(db.session, shop.id, bob.id) == 500
    assert ledger.spendable(db.session, shop.id, bob.id) == 500  # the hold is released


def test_not_enough_points_is_refused_in_words_the_shopper_reads(program, shopify):
    shop = program
    bob = member(shop, 50)

    with pytest.raises(RedemptionRefused) as refused:
        redeem(db.session, shop, bob.id, reward(shop).id)

    assert refused.value.reason == "You need 250 more points for this reward."
    assert refused.value.status == 409
    assert shopify.requests == []
    assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0


def test_points_held_by_an_unconfirmed_code_cannot_be_spent_again(program, shopify):
    shop = program
    bob = member(shop, 500)
    ten_off = reward(shop)
    shopify.lose_answers = True
    first = redeem(db.session, shop, bob.id, ten_off.id)
    assert first["status"] == "held"

    with pytest.raises(RedemptionRefused) as refused:
        redeem(db.session, shop, bob.id, ten_off.id)

    assert refused.value.reason == "You need 100 more points for this reward."
    assert ledger.balance(db.session, shop.id, bob.id) == 500  # held, not taken


@pytest.mark.parametrize("reached_shopify", [True, False], ids=["made", "never-arrived"])
def test_a_timeout_then_a_retry_makes_the_code_exactly_once(program, shopify, reached_shopify):
    shop = program
    bob = member(shop, 500)
    # given Shopify acted but its answer was lost, or the request never arrived
    if reached_shopify:
        shopify.lose_answers = True
    else:
        shopify.down = True
    held = redeem(db.session, shop, bob.id, reward(shop).id)
    assert held["status"] == "held"
    assert ledger.balance(db.session, shop.id, bob.id) == 500
    assert shopify.creations == (1 if reached_shopify else 0)

    # when Shopify answers again and the retry job runs
    shopify.lose_answers = shopify.down = False
    shopify.requests.clear()
    assert retry(held["id"]) == "issued"

    # then the code was looked up first and exists once; the points are taken once
    assert [name for name, _ in shopify.requests][0] == "DiscountByCode"
    assert shopify.creations == 1 and list(shopify.codes) == [held["code"]]
    assert len(shopify.named("DiscountCodeBasicCreate")) == (0 if reached_shopify else 1)
    assert [e.points for e in redeem_entries(bob.id)] == [-300]
    assert ledger.balance(db.session, shop.id, bob.id) == 200
    # a second run (a duplicated job) changes nothing
    assert retry(held["id"]) == "issued"
    assert len(redeem_entries(bob.id)) == 1 and shopify.creations == 1


def test_a_platform_that_never_answers_fails_after_bounded_attempts_and_releases(program,
                                                                                shopify):
    shop = program
    bob = member(shop, 500)
    shopify.down = True
    held = redeem(db.session, shop, bob.id, reward(shop).id)

    statuses = [retry(held["id"]) for _ in range(issuing.MAX_ATTEMPTS)]

    assert statuses[-2:] == ["failed", "failed"]
    assert statuses.count("held") == issuing.MAX_ATTEMPTS - 2
    row = db.session.get(Redemption, held["id"])
    db.session.refresh(row)
    assert row.attempts == issuing.MAX_ATTEMPTS
    assert "did not confirm the code" in row.error
    assert ledger.spendable(db.session, shop.id, bob.id) == 500
    assert redeem_entries(bob.id) == []


def test_the_sweep_finishes_a_hold_nobody_is_working_on(program, shopify):
    shop = program
    bob = member(shop, 500)
    shopify.down = True
    held = redeem(db.session, shop, bob.id, reward(shop).id)
    shopify.down = False

    assert sweep() == {"retried": {}}  # too recent: its retry job is due
    db.session.execute(update(Redemption).values(created_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    assert sweep() == {"retried": {held["id"]: "issued"}}
    assert shopify.creations == 1
    assert ledger.balance(db.session, shop.id, bob.id) == 200


def test_the_same_idempotency_key_is_the_same_redemption(program, shopify):
    shop = program
    bob = member(shop, 1000)
    ten_off = reward(shop)

    first = redeem(db.session, shop, bob.id, ten_off.id, idempotency_key="client:abc")
    again = redeem(db.session, shop, bob.id, ten_off.id, idempotency_key="client:abc")

    assert again == first
    assert shopify.creations == 1
    assert ledger.balance(db.session, shop.id, bob.id) == 700
    with pytest.raises(RedemptionRefused) as refused:
        redeem(db.session, shop, bob.id, reward(shop, name="Other").id,
               idempotency_key="client:abc")
    assert refused.value.status == 422


def test_what_cannot_be_redeemed_says_why(program, other_shop, shopify):
    shop = program
    bob = member(shop, 5000)
    theirs = member(other_shop, 5000, platform_id="999", email="eve@example.com")
    retired = reward(shop, active=False, name="Old reward")
    deleted = reward(shop, deleted_at=utcnow())
    elsewhere = reward(other_shop)
    guest_without_points = member(shop, 0, platform_id=None, email="guest@example.com")

    def refusal(customer_id, reward_id):
        with pytest.raises(RedemptionRefused) as refused:
            redeem(db.session, shop, customer_id, reward_id)
        db.session.rollback()
        return refused.value.status, refused.value.reason

    assert refusal(bob.id, retired.id) == (
        409, "The reward \u201cOld reward\u201d is not available at the moment.")
    assert refusal(bob.id, deleted.id)[0] == 404
    assert refusal(bob.id, elsewhere.id) == (404, f"No reward {elsewhere.id} in this store.")
    assert refusal(theirs.id, reward(shop).id) == (404, f"No customer {theirs.id} in this "
                                                        "store.")
    assert refusal(guest_without_points.id, reward(shop).id)[1].startswith("You need 300")
    enable_program(shop, enabled=False)
    assert refusal(bob.id, reward(shop).id)[1].startswith("The rewards program is closed")
    assert shopify.requests == []


def test_a_woocommerce_coupon_is_single_use_and_for_the_shoppers_email(ctx):
    shop = woo_shop()
    enable_program(shop)
    bob = member(shop, 400, platform_id="25", email="john.doe@example.com")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        store = FakeWoo(rsps)
        result = redeem(db.session, shop, bob.id, reward(shop, kind="percentage",
                                                         value=Decimal("15")).id)

    assert result["status"] == "issued"
    (body,) = store.bodies
    assert body["usage_limit"] == 1 and body["usage_limit_per_user"] == 1
    assert body["email_restrictions"] == ["john.doe@example.com"]
    assert (body["discount_type"], body["amount"]) == ("percent", "15")
    assert ledger.balance(db.session, shop.id, bob.id) == 100


def test_a_lost_woocommerce_answer_is_looked_up_not_made_again(ctx):
    shop = woo_shop()
    enable_program(shop)
    bob = member(shop, 400, platform_id="25", email="john.doe@example.com")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        store = FakeWoo(rsps)
        store.lose_answers = True
        held = redeem(db.session, shop, bob.id, reward(shop).id)
        store.lose_answers = False
        assert held["status"] == "held"
        assert retry(held["id"]) == "issued"
        methods = [call.request.method for call in rsps.calls]

    assert methods == ["POST", "GET"]  # the retry found the coupon: no second POST
    assert store.creations == 1
    assert ledger.balance(db.session, shop.id, bob.id) == 100


def test_a_referral_code_costs_no_points_and_its_key_makes_it_once(shop, shopify):
    first = issue_discount(db.session, shop, key="referral:7:friend", email="amy@example.com",
                           customer_id=None, kind="fixed_amount", value=Decimal("10"),
                           minimum_order=None, expires_after_days=14,
                           title="A welcome gift from Bob")
    again = issue_discount(db.session, shop, key="referral:7:friend", email="amy@example.com",
                           customer_id=None, kind="fixed_amount", value=Decimal("10"),
                           minimum_order=None, expires_after_days=14,
                           title="A welcome gift from Bob")

    assert first == again and first["status"] == "issued"
    assert set(first) == {"id", "code", "status", "expires_at"}
    assert shopify.creations == 1
    (sent,) = shopify.named("DiscountCodeBasicCreate")
    assert sent["basicCodeDiscount"]["context"] == {"all": "ALL"}  # no account to name
    assert sent["basicCodeDiscount"]["title"] == "A welcome gift from Bob"
    row = db.session.get(Redemption, first["id"])
    assert (row.purpose, row.points, row.customer_id, row.email) == (
        "referral", 0, None, "amy@example.com")
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 0
    with pytest.raises(ValueError):
        issue_discount(db.session, shop, key="referral:8:friend", email="x@example.com",
                       customer_id=None, kind="cashback", value=Decimal("1"),
                       minimum_order=None, expires_after_days=None, title="x")


def test_the_demo_store_issues_codes_without_calling_out(program, shopify):
    shop = program
    shop.demo = True
    db.session.commit()
    bob = member(shop, 500)

    result = redeem(db.session, shop, bob.id, reward(shop).id)

    assert result["status"] == "issued"
    assert shopify.requests == []
    assert ledger.balance(db.session, shop.id, bob.id) == 200
