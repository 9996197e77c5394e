"""`POST /api/customers/<id>/redemptions`: the code, the refusals, the Idempotency-Key."""

from __future__ import annotations

import pytest
import responses
from openapi_spec_validator import validate

from app.db import db
from app.loyalty import ledger
from app.shops.service import create_api_key
from tests.loyalty.rewards_support import FakeShopify, enable_program, member, reward


@pytest.fixture
def shopify():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeShopify(rsps)


@pytest.fixture
def auth(shop):
    _row, key = create_api_key(db.session, shop, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {key}"}


def post(client, auth, customer_id, body, **headers):
    return client.post(f"/api/customers/{customer_id}/redemptions", json=body,
                       headers={**auth, **headers})


def test_redeeming_answers_201_with_the_code(client, shop, auth, shopify):
    enable_program(shop)
    bob, ten_off = member(shop, 500), reward(shop)

    response = post(client, auth, bob.id, {"reward_id": ten_off.id})

    assert response.status_code == 201
    body = response.get_json()
    assert {"id", "code", "status", "points", "expires_at"} <= set(body)
    assert (body["status"], body["points"]) == ("issued", 300)
    assert list(shopify.codes) == [body["code"]]


def test_a_retried_request_with_the_same_idempotency_key_is_the_same_redemption(
        client, shop, auth, shopify):
    enable_program(shop)
    bob, ten_off = member(shop, 1000), reward(shop)

    first = post(client, auth, bob.id, {"reward_id": ten_off.id}, **{"Idempotency-Key": "k-1"})
    again = post(client, auth, bob.id, {"reward_id": ten_off.id}, **{"Idempotency-Key": "k-1"})
    other = post(client, auth, bob.id, {"reward_id": ten_off.id}, **{"Idempotency-Key": "k-2"})

    assert first.get_json() == again.get_json()
    assert other.get_json()["id"] != first.get_json()["id"]
    assert shopify.creations == 2
    assert ledger.balance(db.session, shop.id, bob.id) == 400


def test_refusals_are_409_with_the_reason_and_404_for_another_store(
        client, shop, other_shop, auth, shopify):
    enable_program(shop)
    bob = member(shop, 100)
    eve = member(other_shop, 1000, platform_id="999", email="eve@example.com")

    short = post(client, auth, bob.id, {"reward_id": reward(shop).id})
    theirs = post(client, auth, eve.id, {"reward_id": reward(shop).id})
    their_reward = post(client, auth, bob.id, {"reward_id": reward(other_shop).id})
    bad = post(client, auth, bob.id, {"reward_id": "12"})

    assert (short.status_code, short.get_json()["message"]) == (
        409, "You need 200 more points for this reward.")
    assert theirs.status_code == 404 and their_reward.status_code == 404
    assert bad.status_code == 400 and bad.get_json()["field"] == "reward_id"
    assert shopify.requests == []


def test_a_code_the_platform_refuses_is_502_and_spends_nothing(client, shop, auth, shopify):
    enable_program(shop)
    bob = member(shop, 500)
    shopify.refuse = True

    response = post(client, auth, bob.id, {"reward_id": reward(shop).id})

    assert response.status_code == 502
    message = response.get_json()["message"]
    assert message.startswith("Shopify refused to create the discount code, so no points "
                              "were spent")
    assert "Customer does not exist" in message
    assert ledger.spendable(db.session, shop.id, bob.id) == 500


def test_no_answer_yet_is_202_with_the_points_held(client, shop, auth, shopify):
    enable_program(shop)
    bob = member(shop, 500)
    shopify.down = True

    response = post(client, auth, bob.id, {"reward_id": reward(shop).id})

    assert response.status_code == 202
    assert response.get_json()["status"] == "held"
    assert ledger.spendable(db.session, shop.id, bob.id) == 200


def test_the_route_is_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    operation = spec["paths"]["/api/customers/{id}/redemptions"]["post"]
    assert {"201", "409", "404", "502"} <= set(operation["responses"])
