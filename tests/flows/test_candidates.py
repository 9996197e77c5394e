"""Who enters win-back (lapsed shoppers) and birthday flows, on small stores computed by
hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from app.flows import builtins, candidates
from app.flows.models import FlowRun
from app.flows.service import create_flow
from app.loyalty.models import LoyaltyMember
from tests.flows.store_rows import customer, order

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TRIGGER = {"type": "lapsed", "factor": 2, "min_days": 30, "max_days": 365}


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def _store(session, shop, other_shop):
    """Repeat shoppers' mean intervals: ana 20, ben 60, cleo 10, dan 500 days, so the store's
    median is (20 + 60) / 2 = 40 and a one-order shopper lapses after max(30, 2 × 40) = 80."""
    s = shop.id
    people = {}
    ana = people["ana"] = customer(session, s, "ana")  # 2 × 20 = 40 < 60 days: lapsed
    for n in (100, 80):
        order(session, s, ana, days_ago(n))
    order(session, s, ana, days_ago(60), platform_id="ana-last")
    ben = people["ben"] = customer(session, s, "ben")  # 2 × 60 = 120 > 40 days: not yet
    order(session, s, ben, days_ago(100))
    order(session, s, ben, days_ago(40), platform_id="ben-last")
    cleo = people["cleo"] = customer(session, s, "cleo")  # 2 × 10 = 20 → min 30 < 390: lapsed
    order(session, s, cleo, days_ago(400))
    order(session, s, cleo, days_ago(390), platform_id="cleo-last")
    dan = people["dan"] = customer(session, s, "dan")  # 2 × 500 → max 365 < 500: lapsed
    order(session, s, dan, days_ago(1000))
    order(session, s, dan, days_ago(500), platform_id="dan-last")
    fay = people["fay"] = customer(session, s, "fay")  # one order, 90 > 80: lapsed
    order(session, s, fay, days_ago(90), platform_id="fay-last")
    gus = people["gus"] = customer(session, s, "gus")  # one order, 70 < 80 (though > 30)
    order(session, s, gus, days_ago(70), platform_id="gus-last")
    hal = people["hal"] = customer(session, s, "hal")  # a later cancelled order counts not
    order(session, s, hal, days_ago(100), platform_id="hal-last")
    order(session, s, hal, days_ago(10), platform_id="hal-cancelled", cancelled=True)
    # never candidates: a deleted profile, one without an email, another store's shopper
    ida = customer(session, s, "ida", deleted_at=days_ago(1))
    order(session, s, ida, days_ago(300))
    jo = customer(session, s, "jo", email=False)
    order(session, s, jo, days_ago(300))
    kim = customer(session, other_shop.id, "kim")
    order(session, other_shop.id, kim, days_ago(300))
    session.commit()
    return people


def test_lapsed_compares_each_shopper_with_their_own_rhythm(session, shop, other_shop):
    people = _store(session, shop, other_shop)

    found = candidates.lapsed(session, shop.id, TRIGGER, NOW)

    by_id = {c.customer_id: c for c in found}
    names = {name for name, c in people.items() if c.id in by_id}
    assert names == {"ana", "cleo", "dan", "fay", "hal"}
    ana = by_id[people["ana"].id]
    assert ana.trigger_key == "lapsed:ana-last"
    assert ana.context["usual_interval_days"] == 20.0
    assert ana.context["lapsed_after_days"] == 40.0
    assert ana.context["days_since_last_order"] == 60
    assert by_id[people["cleo"].id].context["lapsed_after_days"] == 30.0
    assert by_id[people["dan"].id].context["lapsed_after_days"] == 365.0
    fay = by_id[people["fay"].id]
    assert fay.context["lapsed_after_days"] == 80.0 and fay.context["usual_interval_days"] is None
    assert by_id[people["hal"].id].trigger_key == "lapsed:hal-last"
    # oldest lapse first
    assert [c.customer_id for c in found][0] == people["dan"].id


def test_a_shopper_lapses_again_only_after_a_new_order(session, shop, other_shop):
    people = _store(session, shop, other_shop)
    flow = create_flow(session, shop.id, builtins.flow_data("win_back"), key="win_back")
    ana = people["ana"]
    session.add(FlowRun(shop_id=shop.id, flow_id=flow.id, version=1, customer_id=ana.id,
                        trigger_key="lapsed:ana-last", context={}))
    session.commit()

    # when the sweep asks again, with the flow's runs known
    again = candidates.lapsed(session, shop.id, TRIGGER, NOW, flow_id=flow.id)
    # then ana, already entered for that last order, is not a candidate; the others still are
    assert ana.id not in {c.customer_id for c in again}
    assert len(again) == 4

    # and after a new order, once she has lapsed from it, she is one again, under a new key
    order(session, shop.id, ana, days_ago(45), platform_id="ana-newer")
    session.commit()
    later = candidates.lapsed(session, shop.id, TRIGGER, NOW + timedelta(days=60),
                              flow_id=flow.id)
    assert [c.trigger_key for c in later if c.customer_id == ana.id] == ["lapsed:ana-newer"]


def test_one_order_shoppers_wait_min_days_while_the_store_has_no_repeat_shopper(
        session, shop):
    solo = customer(session, shop.id, "solo")
    order(session, shop.id, solo, days_ago(31), platform_id="solo-1")
    fresh = customer(session, shop.id, "fresh")
    order(session, shop.id, fresh, days_ago(29))
    session.commit()

    found = candidates.lapsed(session, shop.id, TRIGGER, NOW)

    assert [(c.customer_id, c.context["lapsed_after_days"]) for c in found] == [(solo.id, 30.0)]


def _member(session, shop_id, who, birthday):
    session.add(LoyaltyMember(customer_id=who.id, shop_id=shop_id,
                              referral_code=f"R{who.id}", birthday=birthday))


def test_birthdays_are_today_in_the_stores_time_zone(session, shop, other_shop):
    # given a store in Auckland, where 12:00 UTC on 1 June is already 2 June
    shop.timezone = "Pacific/Auckland"
    s = shop.id
    today = customer(session, s, "today")
    _member(session, s, today, date(1990, 6, 2))
    utc_today = customer(session, s, "utc")
    _member(session, s, utc_today, date(1985, 6, 1))
    no_birthday = customer(session, s, "none")
    _member(session, s, no_birthday, None)
    gone = customer(session, s, "gone", deleted_at=days_ago(1))
    _member(session, s, gone, date(1990, 6, 2))
    elsewhere = customer(session, other_shop.id, "elsewhere")
    _member(session, other_shop.id, elsewhere, date(1990, 6, 2))
    session.commit()

    found = candidates.dates(session, s, {"type": "date", "property": "birthday",
                                          "days_before": 0}, NOW)

    assert [(c.customer_id, c.trigger_key) for c in found] == [(today.id, "birthday:2026")]
    assert found[0].context["birthday"] == "1990-06-02"

    # and three days ahead, the flow that writes early finds whoever is born on 5 June
    early = customer(session, s, "early")
    _member(session, s, early, date(2001, 6, 5))
    session.commit()
    ahead = candidates.dates(session, s, {"type": "date", "property": "birthday",
                                          "days_before": 3}, NOW)
    assert [c.customer_id for c in ahead] == [early.id]


def test_a_leap_day_birthday_is_celebrated_on_28_february(session, shop):
    leap = customer(session, shop.id, "leap")
    _member(session, shop.id, leap, date(2000, 2, 29))
    session.commit()
    trigger = {"type": "date", "property": "birthday", "days_before": 0}
    feb28 = datetime(2027, 2, 28, 12, tzinfo=UTC)

    assert [c.trigger_key for c in candidates.dates(session, shop.id, trigger, feb28)] == \
        ["birthday:2027"]
    assert candidates.dates(session, shop.id, trigger, datetime(2028, 2, 28, 12, tzinfo=UTC)) \
        == []


def test_a_birthday_enters_once_a_year(session, shop):
    who = customer(session, shop.id, "bee")
    _member(session, shop.id, who, date(1990, 6, 1))
    flow = create_flow(session, shop.id, builtins.flow_data("birthday"), key="birthday")
    session.add(FlowRun(shop_id=shop.id, flow_id=flow.id, version=1, customer_id=who.id,
                        trigger_key="birthday:2026", context={}))
    session.commit()
    trigger = flow.definition["trigger"]

    assert candidates.dates(session, shop.id, trigger, NOW, flow_id=flow.id) == []
    next_year = candidates.dates(session, shop.id, trigger, NOW.replace(year=2027),
                                 flow_id=flow.id)
    assert [c.trigger_key for c in next_year] == ["birthday:2027"]


def test_a_birthday_saved_in_the_last_30_days_waits_for_next_year(session, shop):
    # given two members born on 1 June: one saved it long ago, one this very morning
    old, new = customer(session, shop.id, "old"), customer(session, shop.id, "new")
    _member(session, shop.id, old, date(1990, 6, 1))
    session.add(LoyaltyMember(customer_id=new.id, shop_id=shop.id, referral_code="RNEW",
                              birthday=date(1991, 6, 1), birthday_set_at=NOW - timedelta(hours=3)))
    session.commit()
    trigger = {"type": "date", "property": "birthday", "days_before": 0}

    # then only the first is celebrated now (no code for a birthday moved to today)
    assert [c.customer_id for c in candidates.dates(session, shop.id, trigger, NOW)] == [old.id]
    # and the other next year
    assert {c.customer_id for c in candidates.dates(
        session, shop.id, trigger, NOW.replace(year=2027))} == {old.id, new.id}
