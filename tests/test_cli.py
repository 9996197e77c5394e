"""`flask --app app shops ...` as a merchant or developer would use it."""

from __future__ import annotations

import json

import responses
from sqlalchemy import select, text

from app.crypto import decrypt
from app.db import db
from app.shops.models import ApiKey, Shop
from tests.conftest import FIXTURES


@responses.activate
def test_shops_add_stores_the_token_encrypted(app, ctx):
    # The token is checked with Shopify first (tests/test_shops_add.py); here it works.
    responses.post("https://cool-shop.myshopify.com/admin/api/2026-10/graphql.json",
                   json=json.loads((FIXTURES / "shopify" / "graphql" / "shop_details.json")
                                   .read_text()))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shops", "add", "Cool-Shop.myshopify.com",
                                 "--token", "shpat_secret_value_123"])
    assert result.exit_code == 0, result.output
    assert "Connected cool-shop.myshopify.com" in result.output
    assert "shpat_secret_value_123" not in result.output
    db.session.close()
    shop = db.session.execute(select(Shop)).scalar_one()
    raw = db.session.execute(text("SELECT access_token_encrypted FROM shops")).scalar_one()
    assert "shpat_secret_value_123" not in raw
    assert decrypt(shop.access_token_encrypted) == "shpat_secret_value_123"


def test_shops_add_rejects_a_foreign_domain_with_a_message(app, ctx):
    result = app.test_cli_runner().invoke(args=["shops", "add", "evil.example.com",
                                                "--token", "x"])
    assert result.exit_code == 2
    assert "not a Shopify store domain" in result.output


def test_shops_add_needs_a_token(app, ctx):
    result = app.test_cli_runner().invoke(args=["shops", "add", "cool-shop.myshopify.com"])
    assert result.exit_code == 2
    assert "--token" in result.output


def test_api_key_is_printed_once_and_stored_hashed(app, ctx, shop):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["shops", "api-key", "sticky-test"])
    assert result.exit_code == 0, result.output
    key = next(line for line in result.output.splitlines() if line.startswith("sticky_"))
    db.session.close()
    stored = db.session.execute(select(ApiKey)).scalar_one()
    assert stored.key_hash != key and key not in stored.key_hash
    revoke = runner.invoke(args=["shops", "api-key", "sticky-test", "--revoke", str(stored.id)])
    assert revoke.exit_code == 0 and "Revoked" in revoke.output


def test_api_key_for_unknown_store_explains(app, ctx):
    result = app.test_cli_runner().invoke(args=["shops", "api-key", "nope.myshopify.com"])
    assert result.exit_code == 2
    assert "no connected store" in result.output
