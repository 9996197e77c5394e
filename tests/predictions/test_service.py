"""Fitting a store, the gate, scoring as orders change, and the weekly refit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.db import db, utcnow
from app.predictions import bgnbd
from app.predictions.models import FITTED, NOT_ENOUGH_DATA, PredictionModel
from app.predictions.service import (
    MIN_BUYERS,
    MIN_REPEAT_BUYERS,
    current_model,
    params_of,
    refit,
    shops_due_for_refit,
)
from app.profiles.models import Customer
from app.profiles.store import ProfileStore
from connectors.records import OrderRecord
from jobs.events import dispatch_shop, register_subscribers
from jobs.predictions import refit_due
from tests.predictions.support import fitted_store, load, order_record, person, synthetic_orders


def customer(shop_id, key):
    return db.session.execute(select(Customer).where(
        Customer.shop_id == shop_id, Customer.platform_customer_id == f"syn-{key}")).scalar_one()


def test_below_the_gate_the_reason_names_each_short_figure_and_nothing_is_scored(shop):
    today = utcnow().date()
    # 150 buyers (50 short), 20 repeat buyers (30 short), 60 days of history (30 short).
    load(db.session, shop.id, synthetic_orders(buyers=150, repeaters=20,
                                               start=today - timedelta(days=60), days=60))
    buyers_age = db.session.execute(select(func.min(Customer.first_order_at)).where(
        Customer.shop_id == shop.id)).scalar()
    history = (today - buyers_age.date()).days

    model = refit(db.session, shop.id)
    db.session.commit()

    assert model.status == NOT_ENOUGH_DATA
    assert (model.buyers, model.repeat_buyers, model.history_days) == (150, 20, history)
    assert f"150 buyers, {MIN_BUYERS - 150} short of the {MIN_BUYERS} needed" in model.reason
    assert f"20 repeat buyers, {MIN_REPEAT_BUYERS - 20} short" in model.reason
    assert f"{history} days of order history, {90 - history} short of the 90" in model.reason
    assert model.bgnbd is None
    assert db.session.execute(select(func.count()).where(
        Customer.shop_id == shop.id, Customer.churn_risk.is_not(None))).scalar() == 0


def test_a_fit_scores_every_buyer_from_its_own_orders(shop):
    today = utcnow().date()
    fitted_store(db.session, shop.id, today)
    # An order with no shopper to tie it to (no profile) and a cancelled order count for
    # nothing.
    who = person("b0")
    load(db.session, shop.id, [OrderRecord(
        platform_id="o-anonymous", placed_at=utcnow() - timedelta(days=3), updated_at=None,
        currency="USD", total_price=Decimal("500"), financial_status="paid"),
        order_record("b0-cancelled", who, today - timedelta(days=1), "99.00",
                     cancelled_at=utcnow() - timedelta(hours=20))])

    model = refit(db.session, shop.id)
    db.session.commit()

    assert model.status == FITTED, model.reason
    assert model.buyers == 240 and model.repeat_buyers == 90
    assert model.scored_customers == 240
    bg, gg, cuts = params_of(model)
    ada = customer(shop.id, "b0")
    # b0's summary by hand from its stored counted orders (a day each, the cancelled one not).
    days = sorted({o.placed_at.date() for o in ada_orders(shop.id, ada.id)})
    x, t_x, T = len(days) - 1, (days[-1] - days[0]).days, (today - days[0]).days
    assert ada.churn_risk == pytest.approx(
        1 - bgnbd.probability_alive(bg, [x], [t_x / 7], [T / 7])[0], rel=1e-9)
    assert ada.expected_orders_90 == pytest.approx(
        bgnbd.expected_transactions(bg, 90 / 7, [x], [t_x / 7], [T / 7])[0], rel=1e-9)
    assert ada.predicted_clv is not None and ada.predicted_spend_tier in ("low", "medium", "high")
    assert ada.predictions_scored_at is not None


def ada_orders(shop_id, customer_id):
    from app.profiles.models import Order
    return db.session.execute(select(Order).where(
        Order.shop_id == shop_id, Order.customer_id == customer_id, Order.cancelled_at.is_(None)
    )).scalars().all()


def test_an_order_arriving_rescores_its_customer_through_the_event(shop):
    today = utcnow().date()
    fitted_store(db.session, shop.id, today)
    refit(db.session, shop.id)
    db.session.commit()
    register_subscribers()
    one_timer = next(c for c in db.session.execute(select(Customer).where(
        Customer.shop_id == shop.id, Customer.orders_count == 1)).scalars())
    key = one_timer.platform_customer_id.removeprefix("syn-")
    first_day = one_timer.first_order_at.date()
    before = (one_timer.expected_orders_365, one_timer.churn_risk)
    db.session.close()

    store = ProfileStore(db.session, shop.id)
    store.apply(order_record(f"{key}-new", person(key), today, "42.00"))
    store.finish()
    db.session.commit()
    db.session.close()
    dispatch_shop(shop.id)

    after = customer(shop.id, key)
    bg, _, _ = params_of(current_model(db.session, shop.id))
    T = (today - first_day).days
    expected = bgnbd.expected_transactions(bg, 365 / 7, [1], [T / 7], [T / 7])[0]
    assert after.expected_orders_365 == pytest.approx(expected, rel=1e-9)
    assert after.expected_orders_365 != pytest.approx(before[0])
    assert after.churn_risk == pytest.approx(
        1 - bgnbd.probability_alive(bg, [1], [T / 7], [T / 7])[0], rel=1e-9)


def test_the_periodic_job_refits_only_stores_whose_fit_is_a_week_old(shop, other_shop):
    today = utcnow().date()
    fitted_store(db.session, shop.id, today)
    db.session.close()

    first = refit_due()
    assert sorted(first["refitted"]) == sorted([f"{shop.id}: fitted",
                                                f"{other_shop.id}: not_enough_data"])
    assert refit_due() == {"refitted": []}  # nothing due: nothing done

    model = current_model(db.session, shop.id)
    model.fitted_at = utcnow() - timedelta(days=7, minutes=1)
    db.session.commit()
    assert shops_due_for_refit(db.session, utcnow()) == [shop.id]
    db.session.close()
    assert refit_due() == {"refitted": [f"{shop.id}: fitted"]}
    assert db.session.execute(select(func.count()).select_from(PredictionModel).where(
        PredictionModel.shop_id == shop.id)).scalar() == 2
