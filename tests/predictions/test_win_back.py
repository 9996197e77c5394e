"""The built-in win-back on predicted churn risk, with the interval rule as its fallback."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.db import db, utcnow
from app.flows import candidates
from app.flows.builtins import install
from app.flows.models import FlowRun
from app.flows.runner import enter_candidates
from app.flows.service import set_status
from app.panel.flows import describe_trigger
from app.predictions.models import FITTED, NOT_ENOUGH_DATA, PredictionModel
from app.profiles.models import Customer
from tests.predictions.support import load, order_record, person


def given_shoppers(shop_id, now):
    """Order days ago per shopper, and the churn risk the last scoring gave each."""
    shoppers = {
        # every 40 days, last 60 days ago: not lapsed by the interval rule (2 × 40 = 80)
        "steady": ([140, 100, 60], 0.8),
        # every 20 days, last 100 days ago: lapsed by the interval rule, low churn risk
        "calm": ([140, 120, 100], 0.3),
        # one order 200 days ago: BG/NBD gives no churn risk; the interval rule judges
        "once": ([200], 0.0),
        # high churn risk but bought 10 days ago, under min_days (45)
        "recent": ([50, 30, 10], 0.9),
    }
    records = []
    for key, (ago, _) in shoppers.items():
        for n, days in enumerate(ago):
            records.append(order_record(f"{key}-{n}", person(key),
                                        (now - timedelta(days=days)).date(), "30.00"))
    load(db.session, shop_id, records, history=False)
    for key, (_, risk) in shoppers.items():
        db.session.execute(update(Customer).where(
            Customer.shop_id == shop_id, Customer.platform_customer_id == f"syn-{key}"
        ).values(churn_risk=risk))
    db.session.commit()
    return {c.platform_customer_id.removeprefix("syn-"): c.id for c in db.session.execute(
        select(Customer).where(Customer.shop_id == shop_id)).scalars()}


def model_row(shop_id, status):
    db.session.add(PredictionModel(shop_id=shop_id, status=status, as_of=utcnow(),
                                   fitted_at=utcnow(), buyers=0, repeat_buyers=0,
                                   history_days=0, scored_customers=0))
    db.session.commit()


def win_back(shop_id):
    return next(f for f in install(db.session, shop_id) if f.key == "win_back")


def test_without_a_fitted_model_the_built_in_win_back_uses_the_interval_rule(shop):
    now = utcnow()
    ids = given_shoppers(shop.id, now)
    flow = win_back(shop.id)
    model_row(shop.id, NOT_ENOUGH_DATA)
    trigger = flow.definition["trigger"]
    assert trigger["basis"] == "churn_risk"

    found = candidates.lapsed(db.session, shop.id, trigger, now)

    # calm lapses (100 > 2 × 20 days) and once too (200 > 2 × the store's median interval
    # of 20 days, raised to min_days 45); steady (60 < 2 × 40) and recent (10) do not.
    assert {c.customer_id for c in found} == {ids["calm"], ids["once"]}
    assert {c.context["basis"] for c in found} == {"interval"}
    assert "until the store's prediction model is fitted" in describe_trigger(trigger)


def test_with_a_fitted_model_repeat_buyers_go_by_churn_risk_and_one_time_buyers_by_interval(
        shop):
    now = utcnow()
    ids = given_shoppers(shop.id, now)
    flow = win_back(shop.id)
    model_row(shop.id, FITTED)
    trigger = flow.definition["trigger"]

    found = candidates.lapsed(db.session, shop.id, trigger, now)

    by_customer = {c.customer_id: c for c in found}
    assert set(by_customer) == {ids["steady"], ids["once"]}
    assert by_customer[ids["steady"]].context["basis"] == "churn_risk"
    assert by_customer[ids["steady"]].context["churn_risk"] == 0.8
    assert by_customer[ids["once"]].context["basis"] == "interval"
    text = describe_trigger(trigger, by_churn_risk=True)
    assert "predicted churn risk above 50%" in text and "in use" in text


def test_the_engine_enters_churned_shoppers_once(shop):
    now = utcnow()
    ids = given_shoppers(shop.id, now)
    flow = win_back(shop.id)
    set_status(db.session, flow, "live")
    model_row(shop.id, FITTED)
    db.session.commit()

    assert enter_candidates(db.session, now, flow_ids=[flow.id]) == 2
    assert enter_candidates(db.session, now, flow_ids=[flow.id]) == 0
    runs = db.session.execute(select(FlowRun.customer_id, FlowRun.trigger_key).where(
        FlowRun.flow_id == flow.id)).all()
    assert {r.customer_id for r in runs} == {ids["steady"], ids["once"]}
    assert all(r.trigger_key.startswith("lapsed:o-") for r in runs)


def test_a_lapsed_trigger_refuses_a_bad_basis_or_threshold():
    from app.flows.definition import FlowInvalid, normalize

    for trigger, field in (({"basis": "vibes"}, "trigger.basis"),
                           ({"basis": "churn_risk", "above": 1.5}, "trigger.above")):
        try:
            normalize({"trigger": {"type": "lapsed", **trigger}, "steps": []})
        except FlowInvalid as exc:
            assert field in exc.errors
        else:
            raise AssertionError(f"{trigger} was accepted")
