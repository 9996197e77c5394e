"""The Predictions page (`/admin/analytics/predictions`) and the profile's Predictions card."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.db import db, utcnow
from app.predictions.models import PredictionModel
from app.predictions.service import refit
from app.profiles.models import Customer
from tests.conftest import run_worker
from tests.flows_helpers import panel_fixture, post, text_of  # noqa: F401 - the fixture
from tests.predictions.support import fitted_store, load, synthetic_orders

PAGE = "/admin/analytics/predictions"


def figure(page: str, name: str) -> dict:
    match = re.search(rf'<script type="application/json" id="figure-{name}">(.*?)</script>',
                      page, re.S)
    assert match, f"no figure-{name} on the page"
    return json.loads(match.group(1))


def test_before_any_fit_the_page_says_so_and_shows_the_gate(panel):
    response = panel.get(PAGE)

    assert response.status_code == 200
    text = text_of(response)
    assert "The models have not been fitted for this store yet" in text
    assert "at least 200 needed" in text and "at least 50 needed" in text
    assert "at least 90 needed" in text
    assert 'id="chart-' not in response.get_data(as_text=True)


def test_below_the_gate_the_page_says_which_figures_are_short(panel, shop):
    today = utcnow().date()
    load(db.session, shop.id, synthetic_orders(buyers=120, repeaters=60,
                                               start=today - timedelta(days=150), days=150))
    refit(db.session, shop.id)
    db.session.commit()

    text = text_of(panel.get(PAGE))

    assert "Predictions are not shown yet" in text
    assert "120 buyers, 80 short of the 200 needed" in text
    assert "repeat buyers," not in text  # 60 repeat buyers: that figure is not short


def test_a_fitted_store_shows_parameters_calibration_and_churn_spread(panel, shop):
    fitted_store(db.session, shop.id, utcnow().date())
    model = refit(db.session, shop.id)
    db.session.commit()
    cal = model.calibration

    response = panel.get(PAGE)
    page = response.get_data(as_text=True)
    text = text_of(response)

    assert response.status_code == 200
    assert f"{model.bgnbd['r']:,.3f}" in page and f"{model.bgnbd['alpha']:,.3f}" in page
    assert "α (weeks)" in text
    assert "r/alpha is the mean number of purchases" in text
    by_repeat = figure(page, "by_past_repeat")
    shown = [row for row in cal["by_past_repeat"] if row["customers"]]
    assert by_repeat["data"][0]["y"] == [round(row["actual"], 3) for row in shown]
    assert by_repeat["data"][1]["y"] == [round(row["predicted"], 3) for row in shown]
    cumulative = figure(page, "cumulative")
    assert cumulative["data"][0]["y"] == cal["cumulative"]["actual"]
    churn = figure(page, "churn")
    scored = db.session.execute(select(Customer.churn_risk).where(
        Customer.shop_id == shop.id, Customer.churn_risk.is_not(None))).scalars().all()
    assert churn["data"][0]["y"] == [sum(1 for r in scored if min(int(r * 10), 9) == band)
                                     for band in range(10)]


def test_refit_now_queues_a_refit_that_the_worker_runs(app, panel, shop):
    fitted_store(db.session, shop.id, utcnow().date())
    db.session.close()

    response = post(panel, PAGE + "/refit", {}, token_from=PAGE)
    assert response.status_code == 302 and response.headers["Location"].endswith(PAGE)
    run_worker(app)

    assert db.session.execute(select(func.count()).select_from(PredictionModel).where(
        PredictionModel.shop_id == shop.id, PredictionModel.status == "fitted")).scalar() == 1


def test_refit_now_needs_the_csrf_token(panel):
    assert panel.post(PAGE + "/refit", data={}).status_code == 400


@pytest.mark.parametrize("fitted", [True, False])
def test_the_profile_card_shows_the_predictions_or_why_not(panel, shop, fitted):
    today = utcnow().date()
    if fitted:
        fitted_store(db.session, shop.id, today)
    else:
        load(db.session, shop.id, synthetic_orders(buyers=20, repeaters=5,
                                                   start=today - timedelta(days=30), days=30))
    refit(db.session, shop.id)
    db.session.commit()
    c = db.session.execute(select(Customer).where(Customer.shop_id == shop.id)
                           .order_by(Customer.orders_count.desc()).limit(1)).scalar_one()

    response = panel.get(f"/admin/customers/{c.id}")
    text = text_of(response)

    assert response.status_code == 200
    if fitted:
        assert f"{c.churn_risk:.0%}" in text
        assert (f"{c.expected_orders_30:.2f} / {c.expected_orders_90:.2f} / "
                f"{c.expected_orders_365:.2f}") in text
        assert f"{c.predicted_clv:,.2f}" in text
        assert c.predicted_spend_tier.capitalize() in text
        assert "discounted at 10% a year" in text
    else:
        assert "Not shown yet. Not enough data yet: 20 buyers, 180 short" in text
