"""The demo store starts with a program switched on, and keeps whatever the merchant saved."""

from __future__ import annotations

from app.demo.loyalty import ensure_demo_program
from app.loyalty.program import read_program, save_program
from app.loyalty.rewards import list_rewards


def test_the_demo_program_is_set_up_once(shop, session):
    assert ensure_demo_program(session, shop.id) is True
    session.commit()
    program = read_program(session, shop.id)
    assert program.enabled and [t.name for t in program.tiers] == ["Bronze", "Silver", "Gold"]
    assert sorted(r.kind for r in list_rewards(session, shop.id)) == [
        "fixed_amount", "free_shipping", "percentage"]

    assert ensure_demo_program(session, shop.id) is False
    assert len(list_rewards(session, shop.id)) == 3


def test_a_program_the_merchant_saved_is_left_alone(shop, session):
    save_program(session, shop.id, {"enabled": False, "points_per_unit": "3"})
    session.commit()
    assert ensure_demo_program(session, shop.id) is False
    assert read_program(session, shop.id).points_per_unit == 3
    assert list_rewards(session, shop.id) == []
