"""What tiers are measured on (points earned or money spent, never the spendable balance),
a program whose tiers were edited, and the widget's progress to the next tier."""

from __future__ import annotations

from app.db import db
from app.loyalty.program import read_program, save_program
from app.loyalty.tiers import progress
from tests.loyalty.daily_helpers import (
    TIERS,
    apply,
    changes,
    customer_id,
    daily,
    entry,
    order,
    person,
    set_up,
    tier_of,
    timeline,
    utc,
)

POINT_TIERS = [{"name": "Silver", "threshold": "500"}, {"name": "Gold", "threshold": "1000"}]


def test_points_basis_counts_points_earned_not_the_balance_nor_the_money(shop):
    set_up(shop, tier_basis="points", tier_period="rolling_12_months", tiers=POINT_TIERS)
    ada = person("ada")
    # 2,000.00 spent, but the points are what counts here.
    apply(shop.id, order("A1", utc(2026, 1, 10, 15), "2000.00", ada))
    ada_id = customer_id(shop.id, "ada")
    entry(shop.id, ada_id, "earn", 600, utc(2026, 1, 10, 15), "order:A1:purchase")
    # She spends most of them: her balance is 50, her points earned still 600.
    entry(shop.id, ada_id, "redeem", -550, utc(2026, 1, 20, 15), "redeem:1")

    daily(utc(2026, 2, 1, 12))
    assert tier_of(ada_id) == ("Silver", "Silver")
    assert changes(ada_id)[-1].reason == \
        "Reached Silver: 600 points earned in the last 12 months (needs 500 points)"

    # Points taken back (a refund's reversal) are points no longer earned.
    entry(shop.id, ada_id, "reverse", -200, utc(2026, 2, 5, 15), "order:A1:refund:1")
    daily(utc(2026, 2, 6, 12))
    assert tier_of(ada_id) == (None, None)
    assert changes(ada_id)[-1].reason == (
        "Left Silver: 400 points earned in the last 12 months, below Silver's 500 points")

    # The same shopper by money spent: her 2,000.00 makes her Gold.
    save_program(db.session, shop.id, {"tier_basis": "spend", "tiers": TIERS})
    db.session.commit()
    daily(utc(2026, 2, 7, 12))
    assert tier_of(ada_id) == ("Gold", "Gold")


def test_points_earned_outside_the_period_do_not_count(shop):
    set_up(shop, tier_basis="points", tier_period="calendar_year", tiers=POINT_TIERS)
    bob = person("bob")
    apply(shop.id, bob)
    bob_id = customer_id(shop.id, "bob")
    entry(shop.id, bob_id, "earn", 300, utc(2025, 12, 31, 12), "a")  # 07:00 NY, 31 Dec
    entry(shop.id, bob_id, "earn", 300, utc(2026, 1, 1, 4), "b")  # 23:00 NY, 31 Dec 2025

    daily(utc(2026, 1, 2, 12))
    # 600 points in 2025 (New York's year): Silver, kept through 2026 ...
    assert tier_of(bob_id) == ("Silver", "Silver")
    assert changes(bob_id)[-1].reason == \
        "Reached Silver: 600 points earned in 2025, kept through this year"
    # ... and this year's figure is what the widget shows progress on.
    assert progress(db.session, shop.id, bob_id, read_program(db.session, shop.id),
                    as_of=utc(2026, 1, 2, 12)) == {
        "tier": "Silver", "next_tier": "Gold", "basis": "points", "value": "0",
        "needed": "1000"}


def test_a_renamed_or_removed_tier_is_re_evaluated_at_the_next_daily_run(shop):
    set_up(shop, tier_basis="spend", tier_period="lifetime", tiers=TIERS)
    cy, dee = person("cy"), person("dee")
    apply(shop.id, order("C1", utc(2026, 1, 10, 15), "600.00", cy),
          order("D1", utc(2026, 1, 10, 16), "1200.00", dee))
    cy_id, dee_id = customer_id(shop.id, "cy"), customer_id(shop.id, "dee")
    assert tier_of(cy_id)[0] == "Silver" and tier_of(dee_id)[0] == "Gold"

    # Silver is renamed Argent; Gold is removed.
    save_program(db.session, shop.id, {"tiers": [
        {"name": "Bronze", "threshold": "0"}, {"name": "Argent", "threshold": "500"}]})
    db.session.commit()
    daily(utc(2026, 2, 1, 12))

    assert tier_of(cy_id) == ("Argent", "Argent")
    assert changes(cy_id)[-1].reason == ("Silver is no longer a tier of the program; $600.00 "
                                         "spent in total meets Argent ($500.00)")
    assert tier_of(dee_id) == ("Argent", "Argent")  # lifetime, but Gold is gone
    assert [t.data["direction"] for t in timeline(dee_id, "tier_changed")][-1] == "changed"

    # All tiers removed: nobody holds one.
    save_program(db.session, shop.id, {"tiers": []})
    db.session.commit()
    daily(utc(2026, 2, 2, 12))
    assert tier_of(cy_id) == (None, None) and tier_of(dee_id) == (None, None)


def test_progress_shows_what_the_next_tier_needs(shop):
    set_up(shop, tier_basis="spend", tier_period="rolling_12_months", tiers=TIERS)
    eve = person("eve")
    apply(shop.id, order("E1", utc(2026, 1, 10, 15), "620.50", eve))
    eve_id = customer_id(shop.id, "eve")
    program = read_program(db.session, shop.id)

    assert progress(db.session, shop.id, eve_id, program, as_of=utc(2026, 2, 1)) == {
        "tier": "Silver", "next_tier": "Gold", "basis": "spend", "value": "620.50",
        "needed": "379.50"}
    apply(shop.id, order("E2", utc(2026, 2, 10, 15), "500.00", eve))
    assert progress(db.session, shop.id, eve_id, program, as_of=utc(2026, 3, 1)) == {
        "tier": "Gold", "next_tier": None, "basis": "spend", "value": "1120.50",
        "needed": None}


def test_history_imported_before_the_program_counts_at_the_first_daily_run(shop):
    # Orders the store had before the program was enabled: no event moves anyone ...
    db.session.get(type(shop), shop.id).timezone = "America/New_York"
    db.session.commit()
    fay = person("fay")
    apply(shop.id, order("F1", utc(2025, 11, 1, 15), "700.00", fay))
    fay_id = customer_id(shop.id, "fay")
    assert tier_of(fay_id) == (None, None)

    # ... the first daily run after the merchant enables tiers places her.
    set_up(shop, tier_basis="spend", tier_period="rolling_12_months", tiers=TIERS)
    daily(utc(2026, 1, 5, 12))
    assert tier_of(fay_id) == ("Silver", "Silver")
