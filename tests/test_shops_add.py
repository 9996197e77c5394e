"""`flask --app app shops add DOMAIN --token TOKEN`: the domain is checked, the token is proven
with a real Admin API call (Shopify's edge stubbed with `responses`), and nothing is stored
when either is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import responses
from sqlalchemy import func, select

from app.crypto import decrypt
from app.db import db
from app.shops.models import Shop
from app.shops.service import SHOP_DETAILS_QUERY, connect_shopify_by_token

GRAPHQL = Path(__file__).parent / "fixtures" / "shopify" / "graphql"
DOMAIN = "cool-shop.myshopify.com"
ENDPOINT = f"https://{DOMAIN}/admin/api/2026-10/graphql.json"
INVALID_TOKEN = {"errors": "[API] Invalid API key or access token (unrecognized login or "
                           "wrong password)"}


def shop_details() -> dict:
    return json.loads((GRAPHQL / "shop_details.json").read_text())


def add(app, *args: str):
    return app.test_cli_runner().invoke(args=["shops", "add", *args])


def stored_shops() -> int:
    db.session.close()
    return db.session.execute(select(func.count()).select_from(Shop)).scalar_one()


@responses.activate
def test_a_working_token_connects_the_store_with_shopifys_name_currency_and_zone(app, ctx):
    responses.post(ENDPOINT, json=shop_details())
    result = add(app, "https://Cool-Shop.myshopify.com/", "--token", " shpat_good_token_1 ")
    assert result.exit_code == 0, result.output
    assert "Connected cool-shop.myshopify.com" in result.output
    assert "Cool Shop, EUR, Europe/Paris" in result.output
    assert "shpat_good_token_1" not in result.output
    (call,) = responses.calls
    assert call.request.headers["X-Shopify-Access-Token"] == "shpat_good_token_1"
    assert json.loads(call.request.body)["query"] == SHOP_DETAILS_QUERY
    db.session.close()
    shop = db.session.execute(select(Shop)).scalar_one()
    assert (shop.domain, shop.name, shop.currency, shop.timezone) == (
        DOMAIN, "Cool Shop", "EUR", "Europe/Paris")
    assert decrypt(shop.access_token_encrypted) == "shpat_good_token_1"


@responses.activate
def test_a_refused_token_is_reported_and_nothing_is_stored(app, ctx):
    responses.post(ENDPOINT, status=401, json=INVALID_TOKEN)
    result = add(app, DOMAIN, "--token", "shpat_wrong_token")
    assert result.exit_code == 2
    assert "Shopify refused this token for cool-shop.myshopify.com (HTTP 401)" in result.output
    assert "shpat_..." in result.output  # says which token is meant
    assert "shpat_wrong_token" not in result.output
    assert "Traceback" not in result.output
    assert len(responses.calls) == 1  # a refusal is not retried
    assert stored_shops() == 0


@responses.activate
def test_a_refused_token_leaves_an_already_connected_store_as_it_was(app, ctx):
    connect_shopify_by_token(db.session, DOMAIN, "shpat_old_good")
    db.session.commit()
    responses.post(ENDPOINT, status=401, json=INVALID_TOKEN)
    assert add(app, DOMAIN, "--token", "shpat_new_wrong").exit_code == 2
    db.session.close()
    shop = db.session.execute(select(Shop)).scalar_one()
    assert decrypt(shop.access_token_encrypted) == "shpat_old_good"


@responses.activate
def test_a_store_that_does_not_exist_is_named(app, ctx):
    responses.post(ENDPOINT, status=404, body="Not Found")
    result = add(app, DOMAIN, "--token", "shpat_x")
    assert result.exit_code == 2
    assert "there is no Shopify store at cool-shop.myshopify.com" in result.output
    assert stored_shops() == 0


@responses.activate
def test_an_answer_without_a_shop_is_refused(app, ctx):
    responses.post(ENDPOINT, json={"data": {"shop": None}})
    result = add(app, DOMAIN, "--token", "shpat_x")
    assert result.exit_code == 2
    assert "without a shop" in result.output
    assert stored_shops() == 0


@responses.activate
def test_a_bare_name_is_not_guessed_into_a_domain(app, ctx):
    result = add(app, "not-a-domain", "--token", "shpat_x")
    assert result.exit_code == 2
    assert "not a Shopify store domain" in result.output
    assert "not-a-domain.myshopify.com" in result.output  # the suggestion
    assert len(responses.calls) == 0  # refused before any network call
    assert stored_shops() == 0


@responses.activate
def test_malformed_domains_are_refused_before_any_call(app, ctx):
    for store in ("evil.example.com", "cool_shop.myshopify.com", "cool-shop.myshopify.com.evil",
                  "https://", ".myshopify.com", "cool shop.myshopify.com"):
        result = add(app, store, "--token", "shpat_x")
        assert result.exit_code == 2, store
        assert "not a Shopify store domain" in result.output, store
    assert len(responses.calls) == 0
    assert stored_shops() == 0


@responses.activate
def test_the_helper_tests_use_never_calls_shopify(ctx):
    # conftest's `shop` fixture connects stores this way: no network, no domain guessing lost.
    shop = connect_shopify_by_token(db.session, "sticky-test", "shpat_test")
    assert shop.domain == "sticky-test.myshopify.com"
    assert len(responses.calls) == 0


def test_ids_past_2_63_on_the_shops_cli_are_clear_errors(app, ctx, shop):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shops", "api-key", "9" * 30])
    assert result.exit_code == 2 and "no connected store matches" in result.output
    result = runner.invoke(args=["shops", "api-key", "sticky-test", "--revoke", "9" * 30])
    assert result.exit_code == 2 and "--revoke" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(args=["accounts", "link", "nobody@example.com", "9" * 30])
    assert result.exit_code == 2


@responses.activate
def test_reconnecting_an_uninstalled_store_makes_it_active_again(app, ctx):
    from app.db import utcnow

    shop = connect_shopify_by_token(db.session, DOMAIN, "shpat_old")
    shop.status, shop.uninstalled_at, shop.access_token_encrypted = "uninstalled", utcnow(), None
    db.session.commit()
    responses.post(ENDPOINT, json=shop_details())
    assert add(app, DOMAIN, "--token", "shpat_new").exit_code == 0
    db.session.close()
    shop = db.session.execute(select(Shop)).scalar_one()
    assert (shop.status, shop.uninstalled_at) == ("active", None)
    assert decrypt(shop.access_token_encrypted) == "shpat_new"
