"""Writing balance and tier back to the platform: coalesced per member, what the ledger says
at write time, compare-and-clear, retried with backoff, never touching the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, update

from app.db import db, utcnow
from app.loyalty import ledger, writeback
from app.loyalty.models import LedgerEntry, LoyaltyMember, Writeback
from app.queue import QUEUE_NAMES, get_queue, get_redis
from jobs.loyalty_writeback import sweep_writebacks, write_back_shop
from tests.loyalty.rewards_support import FakeShopify, FakeWoo, enable_program, member, woo_shop


@pytest.fixture
def shopify():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeShopify(rsps)


def earn(shop_id: int, customer_id: int, points: int, key: str) -> None:
    """One order's points, in its own transaction, marking the member as the ledger's
    callers do."""
    ledger.append(db.session, shop_id, ledger.NewEntry(
        customer_id=customer_id, kind="earn", points=points, reason="Order", source="order",
        key=key))
    writeback.mark_due(db.session, shop_id, [customer_id])
    db.session.commit()


def drain_queues() -> None:
    db.session.close()
    queues = [get_queue(name) for name in QUEUE_NAMES]
    SimpleWorker(queues, connection=get_redis(), serializer=JSONSerializer).work(burst=True)


def write(shop_id: int) -> dict:
    """The shop's write-back job, as a worker runs it: in a session of its own (the test's
    is ended first: on SQLite an open transaction holds the write lock)."""
    db.session.commit()
    return write_back_shop(shop_id)


def row(customer_id: int) -> Writeback:
    db.session.expire_all()
    return db.session.get(Writeback, customer_id)


def metafield_values(variables: dict) -> dict[tuple[str, str], str]:
    return {(m["ownerId"], m["key"]): m["value"] for m in variables["metafields"]}


def test_a_burst_of_orders_is_one_write_of_the_final_balance(shop, shopify):
    enable_program(shop)
    bob = member(shop, 0)
    # given ten orders, each committed on its own, each marking the member
    for i in range(10):
        earn(shop.id, bob.id, 10, f"order:{i}:purchase")
    # then one write-back job waits for the shop, and running it makes one call
    assert len(get_queue("default")) == 1
    drain_queues()

    (sent,) = shopify.named("StickyWriteBack")
    assert metafield_values(sent) == {
        ("gid://shopify/Customer/207119551", "points_balance"): "100"}
    assert {m["type"] for m in sent["metafields"]} == {"number_integer"}
    assert {m["namespace"] for m in sent["metafields"]} == {"sticky"}
    written = row(bob.id)
    assert (written.due_at, written.written_balance, written.attempts) == (None, 100, 0)


def test_a_change_made_while_writing_is_written_next_time(shop, shopify):
    enable_program(shop)
    bob = member(shop, 0)
    earn(shop.id, bob.id, 50, "order:1:purchase")

    def another_order_lands_meanwhile(_variables):
        if len(shopify.named("StickyWriteBack")) == 1:
            with db.new_session() as other:
                ledger.append(other, shop.id, ledger.NewEntry(
                    customer_id=bob.id, kind="earn", points=25, reason="Order",
                    source="order", key="order:2:purchase"))
                writeback.mark_due(other, shop.id, [bob.id])
                other.commit()

    shopify.on_write = another_order_lands_meanwhile
    db.session.commit()
    first = write(shop.id)
    # the first write sent 50; the ledger says 75 now: still due, not cleared
    assert (first["written"], first["still_due"]) == (1, 1)
    assert row(bob.id).due_at is not None and row(bob.id).written_balance == 50

    write(shop.id)
    sent = [metafield_values(v) for v in shopify.named("StickyWriteBack")]
    assert [v[("gid://shopify/Customer/207119551", "points_balance")] for v in sent] == [
        "50", "75"]
    assert row(bob.id).due_at is None and row(bob.id).written_balance == 75


def test_a_failed_write_backs_off_and_retries_without_touching_the_ledger(shop, shopify):
    enable_program(shop)
    bob = member(shop, 120)
    writeback.mark_due(db.session, shop.id, [bob.id])
    entries_before = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    shopify.down = True
    db.session.commit()

    result = write(shop.id)

    assert result["failed"] == 1
    failed = row(bob.id)
    assert failed.attempts == 1 and "graphql.json" in failed.last_error
    assert failed.due_at > utcnow() + timedelta(seconds=50)  # backed off
    calls = len(shopify.requests)
    assert write(shop.id)["failed"] == 0  # not due yet: no call
    assert len(shopify.requests) == calls
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries_before
    assert ledger.balance(db.session, shop.id, bob.id) == 120

    # when the backoff has run out and Shopify is back
    shopify.down = False
    db.session.execute(update(Writeback).values(due_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    db.session.commit()
    assert sweep_writebacks() == {"requested": [shop.id]}
    drain_queues()
    done = row(bob.id)
    assert (done.due_at, done.attempts, done.last_error, done.written_balance) == (
        None, 0, None, 120)


def test_a_metafield_shopify_refuses_is_that_members_failure_only(shop, shopify):
    enable_program(shop)
    bob = member(shop, 10)
    amy = member(shop, 20, platform_id="207119552", email="amy@example.com")
    writeback.mark_due(db.session, shop.id, [bob.id, amy.id])
    db.session.commit()
    refusals = iter([{0: "Owner does not exist"}, {}])

    def refuse_bob_once(_variables):
        shopify.write_errors = next(refusals)

    shopify.on_write = refuse_bob_once
    result = write(shop.id)

    assert (result["written"], result["failed"]) == (1, 1)
    assert row(bob.id).last_error == "Owner does not exist"
    assert row(amy.id).due_at is None and row(amy.id).written_balance == 20
    # metafieldsSet writes nothing when one is refused: amy was sent again, alone
    sent = shopify.named("StickyWriteBack")
    assert [len(v["metafields"]) for v in sent] == [2, 1]


def test_the_tier_is_a_metafield_and_one_tag_replacing_the_old_ones(shop, shopify):
    enable_program(shop, tiers=[{"name": "Silver", "threshold": "100"},
                                {"name": "Gold", "threshold": "500"}])
    bob = member(shop, 600)
    db.session.get(LoyaltyMember, bob.id).tier = "Gold"
    writeback.mark_due(db.session, shop.id, [bob.id])
    db.session.execute(update(Writeback).values(written_tier="Bronze (retired)"))
    db.session.commit()

    write(shop.id)

    (sent,) = shopify.named("StickyWriteBack")
    assert metafield_values(sent)[("gid://shopify/Customer/207119551", "tier")] == "Gold"
    assert sent["add0"] == ["Sticky tier: Gold"]
    assert sent["rm0"] == ["Sticky tier: Bronze (retired)", "Sticky tier: Silver"]
    assert row(bob.id).written_tier == "Gold"

    # when only the balance changes, the tags are left as they are
    earn(shop.id, bob.id, 10, "order:2:purchase")
    write(shop.id)
    _first, second = shopify.named("StickyWriteBack")
    assert metafield_values(second)[("gid://shopify/Customer/207119551", "points_balance")] \
        == "610"
    assert not any(name.startswith(("add", "rm")) for name in second)


def test_many_members_go_in_calls_of_at_most_25_metafields(shop, shopify):
    enable_program(shop)
    ids = [member(shop, i + 1, platform_id=str(9000 + i), email=f"m{i}@example.com").id
           for i in range(30)]
    writeback.mark_due(db.session, shop.id, ids)
    db.session.commit()

    assert write(shop.id)["written"] == 30

    sizes = [len(v["metafields"]) for v in shopify.named("StickyWriteBack")]
    assert sum(sizes) == 30 and len(sizes) == 3 and max(sizes) <= 25


def test_guests_and_the_demo_store_are_cleared_without_a_call(shop, shopify):
    enable_program(shop)
    guest = member(shop, 40, platform_id=None, email="guest@example.com")
    writeback.mark_due(db.session, shop.id, [guest.id])
    db.session.commit()
    assert write(shop.id)["skipped_guests"] == 1
    assert row(guest.id).due_at is None

    bob = member(shop, 40)
    shop.demo = True
    writeback.mark_due(db.session, shop.id, [bob.id])
    db.session.commit()
    assert write(shop.id)["skipped"] == "the local demo store"
    assert row(bob.id).due_at is None
    assert shopify.requests == []


def test_a_rolled_back_change_requests_no_write(shop, shopify):
    bob = member(shop, 10)
    writeback.mark_due(db.session, shop.id, [bob.id])
    db.session.rollback()
    assert len(get_queue("default")) == 0
    assert row(bob.id) is None


def test_woocommerce_members_are_written_as_customer_meta_in_one_batch(ctx):
    shop = woo_shop()
    enable_program(shop)
    john = member(shop, 120, platform_id="25", email="john.doe@example.com")
    db.session.get(LoyaltyMember, john.id).tier = "Gold"
    jane = member(shop, 5, platform_id="26", email="jane@example.com")
    writeback.mark_due(db.session, shop.id, [john.id, jane.id])
    db.session.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        store = FakeWoo(rsps)
        result = write(shop.id)

    assert result["written"] == 2
    (batch,) = store.batches
    assert batch == {"update": [
        {"id": 25, "meta_data": [{"key": "sticky_points_balance", "value": "120"},
                                 {"key": "sticky_tier", "value": "Gold"}]},
        {"id": 26, "meta_data": [{"key": "sticky_points_balance", "value": "5"},
                                 {"key": "sticky_tier", "value": ""}]}]}
    assert row(john.id).due_at is None and row(jane.id).written_balance == 5
