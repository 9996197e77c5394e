"""Tiers over time: entry on the order that crosses a threshold, retention and downgrade by
the daily run in the store's time zone (New York here: UTC-4 in summer, UTC-5 in winter)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from app.customers.display import describe
from app.db import db
from app.events.models import StoredEvent
from app.loyalty.models import Writeback
from tests.loyalty.daily_helpers import (
    TIERS,
    apply,
    changes,
    customer_id,
    daily,
    order,
    person,
    refund,
    set_up,
    tier_of,
    timeline,
    utc,
)


def test_a_tier_reached_mid_year_is_lost_at_the_rolling_boundary(shop):
    set_up(shop, tier_basis="spend", tier_period="rolling_12_months", tiers=TIERS)
    ada = person("ada")
    # Ada signs up, then on 15 June 2025 (10:00 in New York) pays 600.00 in one order.
    apply(shop.id, ada, order("A1", utc(2025, 6, 15, 14), "600.00", ada))
    ada_id = customer_id(shop.id, "ada")

    # The order that crossed the threshold moved her up at once.
    assert tier_of(ada_id) == ("Silver", "Silver")
    moves = [(c.from_tier, c.to_tier) for c in changes(ada_id)]
    assert moves == [(None, "Bronze"), ("Bronze", "Silver")]
    assert changes(ada_id)[-1].reason == \
        "Reached Silver: $600.00 spent in the last 12 months (needs $500.00)"

    # A small order in between keeps nothing alive: the big one is what qualifies.
    apply(shop.id, order("A2", utc(2025, 12, 1, 15), "50.00", ada))
    for day in (utc(2025, 9, 1, 12), utc(2026, 3, 1, 12), utc(2026, 6, 15, 3, 30)):
        daily(day)  # the last: 23:30 on 14 June in New York, the window's last day
        assert tier_of(ada_id) == ("Silver", "Silver")

    # 00:30 on 15 June in New York: the June order has left the last 12 months.
    result = daily(utc(2026, 6, 15, 4, 30))

    assert (result["stores_run"], result["tiers_up"], result["tiers_down"]) == ([shop.id], 0, 1)
    assert tier_of(ada_id) == ("Bronze", "Bronze")
    down = changes(ada_id)[-1]
    assert (down.from_tier, down.to_tier, down.basis_value) == ("Silver", "Bronze",
                                                                Decimal("50"))
    assert down.reason == ("Moved from Silver to Bronze: $50.00 spent in the last 12 months, "
                           "below Silver's $500.00")
    # ... on the timeline, as a domain event for flows, and due for the platform write-back
    [row] = [t for t in timeline(ada_id, "tier_changed") if t.data["direction"] == "down"]
    assert row.data["to"] == "Bronze" and row.data["reason"] == down.reason
    item = describe(row, "USD")
    assert item.title == "Tier changed from Silver to Bronze" and item.detail == down.reason
    published = db.session.execute(select(StoredEvent.data).where(
        StoredEvent.kind == "tier_changed", StoredEvent.customer_id == ada_id)).scalars().all()
    assert [d["to"] for d in published] == ["Bronze", "Silver", "Bronze"]
    assert db.session.get(Writeback, ada_id).due_at is not None

    # Later the same local day, the store has had its run: nothing happens twice.
    assert daily(utc(2026, 6, 15, 20))["stores_run"] == []
    assert len(changes(ada_id)) == 3


def test_a_refund_below_the_threshold_moves_down_on_the_daily_run_not_on_the_refund(shop):
    set_up(shop, tier_basis="spend", tier_period="rolling_12_months", tiers=TIERS)
    bob = person("bob")
    apply(shop.id, order("B1", utc(2026, 3, 2, 15), "1200.00", bob))
    bob_id = customer_id(shop.id, "bob")
    assert tier_of(bob_id) == ("Gold", "Gold")

    apply(shop.id, refund("B1", "B1", "400.00", utc(2026, 3, 5, 15)))
    assert tier_of(bob_id) == ("Gold", "Gold")  # an event never moves a member down

    daily(utc(2026, 3, 6, 12))
    assert tier_of(bob_id) == ("Silver", "Silver")
    assert changes(bob_id)[-1].reason == ("Moved from Gold to Silver: $800.00 spent in the "
                                          "last 12 months, below Gold's $1,000.00")


def test_a_cancelled_test_or_unpaid_order_counts_for_nothing(shop):
    set_up(shop, tier_basis="spend", tier_period="rolling_12_months", tiers=TIERS)
    cy = person("cy")
    apply(shop.id,
          order("C1", utc(2026, 3, 2, 15), "900.00", cy, cancelled_at=utc(2026, 3, 2, 16)),
          order("C2", utc(2026, 3, 3, 15), "900.00", cy, test=True),
          order("C3", utc(2026, 3, 4, 15), "900.00", cy, financial_status="pending"),
          order("C4", utc(2026, 3, 5, 15), "499.99", cy))
    daily(utc(2026, 3, 6, 12))
    assert tier_of(customer_id(shop.id, "cy")) == ("Bronze", "Bronze")


def test_calendar_year_keeps_a_tier_through_the_next_year(shop):
    set_up(shop, tier_basis="spend", tier_period="calendar_year", tiers=TIERS)
    dee = person("dee")
    apply(shop.id, order("D1", utc(2025, 3, 10, 15), "650.00", dee))
    dee_id = customer_id(shop.id, "dee")
    assert tier_of(dee_id) == ("Silver", "Silver")
    assert changes(dee_id)[-1].reason == \
        "Reached Silver: $650.00 spent in 2025 (needs $500.00)"

    # Reached in 2025: kept through 2026, which she spends nothing in ...
    for day in (utc(2025, 12, 31, 12), utc(2026, 1, 1, 12), utc(2026, 7, 1, 12),
                utc(2027, 1, 1, 4, 59)):  # 23:59 on 31 December 2026 in New York
        daily(day)
        assert tier_of(dee_id) == ("Silver", "Silver")

    # ... and lost when 2027 begins in New York.
    daily(utc(2027, 1, 1, 5, 1))
    assert tier_of(dee_id) == ("Bronze", "Bronze")
    assert changes(dee_id)[-1].reason == (
        "Moved from Silver to Bronze: $0.00 spent in 2027 and $0.00 in 2026, "
        "below Silver's $500.00")


def test_calendar_year_spend_in_the_second_year_renews_the_tier(shop):
    set_up(shop, tier_basis="spend", tier_period="calendar_year", tiers=TIERS)
    eve = person("eve")
    apply(shop.id, order("E1", utc(2025, 3, 10, 15), "650.00", eve),
          order("E2", utc(2026, 11, 10, 15), "520.00", eve))
    daily(utc(2027, 6, 1, 12))
    assert tier_of(customer_id(shop.id, "eve")) == ("Silver", "Silver")  # kept through 2027
    daily(utc(2028, 1, 2, 12))
    assert tier_of(customer_id(shop.id, "eve")) == ("Bronze", "Bronze")


def test_lifetime_tiers_are_never_lost(shop):
    set_up(shop, tier_basis="spend", tier_period="lifetime", tiers=TIERS)
    fay = person("fay")
    apply(shop.id, order("F1", utc(2024, 5, 1, 15), "1500.00", fay))
    apply(shop.id, refund("F1", "F1", "1500.00", utc(2024, 5, 20, 15)))
    for day in (utc(2024, 6, 1, 12), utc(2027, 6, 1, 12)):
        daily(day)
    assert tier_of(customer_id(shop.id, "fay")) == ("Gold", "Gold")


def test_a_disabled_program_moves_no_one(shop):
    set_up(shop, tier_basis="spend", tier_period="rolling_12_months", tiers=TIERS,
           enabled=False)
    gus = person("gus")
    apply(shop.id, order("G1", utc(2026, 3, 2, 15), "2000.00", gus))
    daily(utc(2026, 3, 3, 12))
    assert tier_of(customer_id(shop.id, "gus")) == (None, None)
