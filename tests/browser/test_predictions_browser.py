"""The Predictions page in a real browser: Plotly draws the calibration and churn charts from
the stored fit, "Refit now" queues a refit, and a profile shows its Predictions card."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from app.db import db, utcnow
from app.predictions.service import refit
from app.profiles.models import Customer
from tests.browser.support import goto, shot, sign_in_browser
from tests.predictions.support import fitted_store


def test_the_model_quality_view_draws_the_fit_and_queues_a_refit(page, shop):
    fitted_store(db.session, shop.id, utcnow().date())
    model = refit(db.session, shop.id)
    db.session.commit()
    by_repeat = [row for row in model.calibration["by_past_repeat"] if row["customers"]]
    sign_in_browser(page, shop)

    goto(page, "/admin/analytics/predictions", "predictions")

    expect(page.locator("#param-r .Metric-value")).to_have_text(f"{model.bgnbd['r']:,.3f}")
    for chart in ("by_past_repeat", "cumulative", "churn"):
        expect(page.locator(f"#chart-{chart} .main-svg").first).to_be_visible()
    drawn = page.evaluate("() => document.getElementById('chart-by_past_repeat').data[0].y")
    assert drawn == [round(row["actual"], 3) for row in by_repeat]
    churn = page.evaluate("() => document.getElementById('chart-churn').data[0].y")
    assert sum(churn) == 240

    with page.expect_navigation():
        page.click("#refit-button")
    shot(page, "predictions-refit-queued")
    expect(page.get_by_text("Refit queued")).to_be_visible()


def test_a_profile_shows_the_customers_predictions(page, shop):
    fitted_store(db.session, shop.id, utcnow().date())
    refit(db.session, shop.id)
    db.session.commit()
    c = db.session.execute(select(Customer).where(Customer.shop_id == shop.id)
                           .order_by(Customer.orders_count.desc()).limit(1)).scalar_one()
    sign_in_browser(page, shop)

    goto(page, f"/admin/customers/{c.id}", "customer-predictions")

    card = page.locator("#predictions")
    expect(card).to_be_visible()
    expect(card.locator('[data-metric="prediction-churn-risk"]')).to_have_text(
        f"{c.churn_risk:.0%}")
    expect(card.locator('[data-metric="prediction-tier"]')).to_have_text(
        c.predicted_spend_tier.capitalize())
