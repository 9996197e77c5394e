"""`flask --app app predictions fit` and `GET /api/predictions/model`."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from app.db import db, utcnow
from app.profiles.models import Customer
from app.shops.service import create_api_key
from tests.predictions.support import fitted_store, load, synthetic_orders


def api_key(shop):
    _, key = create_api_key(db.session, shop, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {key}"}


def test_fit_prints_the_parameters_with_their_time_unit(app, shop):
    fitted_store(db.session, shop.id, utcnow().date())

    result = app.test_cli_runner().invoke(args=["predictions", "fit", "sticky-test"])

    assert result.exit_code == 0, result.output
    assert "BG/NBD (time unit: weeks):" in result.output
    assert "240 buyers" in result.output
    for name in ("r", "alpha", "a", "b", "p", "q", "gamma"):
        assert any(line.strip().startswith(name + " ") for line in result.output.splitlines())
    assert "240 customers scored." in result.output


def test_fit_as_of_a_day_uses_only_the_orders_up_to_it_and_prints_json(app, shop):
    today = utcnow().date()
    fitted_store(db.session, shop.id, today)
    as_of = today - timedelta(days=50)
    # Buyers whose first order is after the as-of day do not count.
    first_orders = db.session.execute(select(Customer.first_order_at).where(
        Customer.shop_id == shop.id)).scalars().all()
    buyers_then = sum(1 for at in first_orders if at.date() <= as_of)
    db.session.close()

    result = app.test_cli_runner().invoke(
        args=["predictions", "fit", "sticky-test", "--as-of", as_of.isoformat(), "--json"])

    body = json.loads(result.output)
    assert body["as_of"] == as_of.isoformat()
    assert body["figures"]["buyers"] == buyers_then
    if buyers_then >= 200:
        assert result.exit_code == 0 and body["status"] == "fitted"
    else:
        assert result.exit_code == 1 and body["status"] == "not_enough_data"


def test_fit_below_the_gate_exits_non_zero_naming_the_short_figures(app, shop):
    today = utcnow().date()
    load(db.session, shop.id, synthetic_orders(buyers=30, repeaters=5,
                                               start=today - timedelta(days=120), days=120))

    result = app.test_cli_runner().invoke(args=["predictions", "fit", "sticky-test"])

    assert result.exit_code == 1
    assert "Not enough data yet: 30 buyers, 170 short of the 200 needed" in result.output
    assert "repeat buyers" in result.output


@pytest.mark.parametrize("args, message", [
    (["predictions", "fit", "nope.myshopify.com"], "no connected store matches"),
    (["predictions", "fit", "sticky-test", "--as-of", "yesterday"], "is not a date"),
])
def test_fit_explains_bad_input(app, shop, args, message):
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output


def test_model_api_before_any_fit_and_after_one(client, shop, other_shop):
    headers = api_key(shop)
    body = client.get("/api/predictions/model", headers=headers).get_json()
    assert body["status"] == "not_fitted" and body["bgnbd"] is None
    assert body["gate"] == {"min_buyers": 200, "min_history_days": 90, "min_repeat_buyers": 50}

    fitted_store(db.session, shop.id, utcnow().date())
    from app.predictions.service import refit
    model = refit(db.session, shop.id)
    db.session.commit()
    body = client.get("/api/predictions/model", headers=headers).get_json()

    assert body["status"] == "fitted" and body["reason"] is None
    assert body["bgnbd"] == {key: model.bgnbd[key] for key in
                             ("r", "alpha", "a", "b", "time_unit", "log_likelihood")}
    assert body["bgnbd"]["time_unit"] == "weeks"
    assert set(body["gamma_gamma"]) == {"p", "q", "gamma"}
    assert body["figures"]["buyers"] == 240
    assert body["calibration"]["status"] == "done"
    assert len(body["calibration"]["by_past_repeat"]) == 8
    # The other store sees its own (absent) model, not this one.
    other = client.get("/api/predictions/model", headers=api_key(other_shop)).get_json()
    assert other["status"] == "not_fitted"


def test_customer_json_carries_the_predicted_fields(client, shop):
    fitted_store(db.session, shop.id, utcnow().date())
    from app.predictions.service import refit
    refit(db.session, shop.id)
    db.session.commit()
    row = db.session.execute(select(Customer).where(Customer.shop_id == shop.id)
                             .order_by(Customer.id).limit(1)).scalar_one()

    body = client.get(f"/api/customers/{row.id}", headers=api_key(shop)).get_json()

    assert body["churn_risk"] == pytest.approx(row.churn_risk)
    assert body["p_alive"] == pytest.approx(1 - row.churn_risk)
    assert body["expected_orders_30"] == pytest.approx(row.expected_orders_30)
    assert body["expected_orders_365"] == pytest.approx(row.expected_orders_365)
    assert body["predicted_clv"] == f"{row.predicted_clv:.2f}"
    assert body["predicted_spend_tier"] == row.predicted_spend_tier


def test_openapi_describes_the_model_route(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    schema = spec["paths"]["/api/predictions/model"]["get"]["responses"]["200"]
    props = schema["content"]["application/json"]["schema"]["properties"]
    assert set(props["bgnbd"]["properties"]) == {"r", "alpha", "a", "b", "time_unit",
                                                 "log_likelihood"}
    assert "expected_orders_90" in spec["components"]["schemas"]["Customer"]["properties"]
