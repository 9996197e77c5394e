"""`/api/loyalty/rewards`: create, list, change and delete rewards; each rule refused with
its field named and nothing saved; another store's reward is not found; deletion is soft."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db import db
from app.loyalty.models import LoyaltyReward, Redemption
from tests.loyalty.test_program_api import key_for

FIVE_OFF = {"name": "$5 off", "kind": "fixed_amount", "value": "5", "points_cost": 500}


@pytest.fixture
def auth(shop) -> dict[str, str]:
    return key_for(shop)


def create(client, auth, body) -> tuple[int, dict]:
    response = client.post("/api/loyalty/rewards", json=body, headers=auth)
    return response.status_code, response.get_json()


def stored() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(LoyaltyReward))


def test_a_reward_is_created_listed_and_shown_in_the_design_shape(client, auth):
    status, body = create(client, auth, {**FIVE_OFF, "minimum_order": "25",
                                         "expires_after_days": 30})
    assert status == 201, body
    assert body == {"id": body["id"], "name": "$5 off", "kind": "fixed_amount",
                    "value": "5.00", "points_cost": 500, "minimum_order": "25.00",
                    "expires_after_days": 30, "active": True}
    status, shipping = create(client, auth, {"name": "Free shipping", "kind": "free_shipping",
                                             "points_cost": 300})
    assert status == 201 and shipping["value"] == "0" and shipping["minimum_order"] is None
    status, percent = create(client, auth, {"name": "15% off", "kind": "percentage",
                                            "value": "15", "points_cost": 1000})
    assert status == 201 and percent["value"] == "15"

    listed = client.get("/api/loyalty/rewards", headers=auth).get_json()["rewards"]
    assert [r["name"] for r in listed] == ["Free shipping", "$5 off", "15% off"]  # by cost
    one = client.get(f"/api/loyalty/rewards/{body['id']}", headers=auth)
    assert one.status_code == 200 and one.get_json() == body


@pytest.mark.parametrize("body, errors", [
    ({}, {"name", "kind", "points_cost"}),
    ({**FIVE_OFF, "kind": "cashback"}, {"kind"}),
    ({**FIVE_OFF, "name": "  "}, {"name"}),
    ({**FIVE_OFF, "name": "x" * 121}, {"name"}),
    ({**FIVE_OFF, "points_cost": 0}, {"points_cost"}),
    ({**FIVE_OFF, "points_cost": 1_000_001}, {"points_cost"}),
    ({**FIVE_OFF, "points_cost": "500"}, {"points_cost"}),
    ({**FIVE_OFF, "value": "0"}, {"value"}),
    ({**FIVE_OFF, "value": "five"}, {"value"}),
    ({"name": "Half", "kind": "percentage", "value": "100.5", "points_cost": 10}, {"value"}),
    ({"name": "Ship", "kind": "free_shipping", "value": "4", "points_cost": 10}, {"value"}),
    ({"name": "No value", "kind": "fixed_amount", "points_cost": 10}, {"value"}),
    ({**FIVE_OFF, "minimum_order": "-1", "expires_after_days": 0, "active": "yes"},
     {"minimum_order", "expires_after_days", "active"}),
    ({**FIVE_OFF, "colour": "red"}, {"colour"}),
])
def test_each_bad_field_is_named_and_nothing_is_saved(client, auth, body, errors):
    status, answer = create(client, auth, body)
    assert status == 400
    assert set(answer["errors"]) == errors, answer
    assert answer["message"]
    assert stored() == 0


def test_a_body_that_is_not_json_is_a_400(client, auth):
    response = client.post("/api/loyalty/rewards", data=b"{oops", headers={
        **auth, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.get_json()["errors"] == {"body": "is not JSON"}


def test_a_partial_put_changes_only_its_fields_and_refuses_all_or_nothing(client, auth):
    _, reward = create(client, auth, FIVE_OFF)
    url = f"/api/loyalty/rewards/{reward['id']}"
    response = client.put(url, json={"points_cost": 400, "active": False}, headers=auth)
    assert response.status_code == 200
    assert (response.get_json()["points_cost"], response.get_json()["active"],
            response.get_json()["value"]) == (400, False, "5.00")

    # turning it into a percentage of 500 is refused, and the name change with it
    response = client.put(url, json={"kind": "percentage", "value": "500", "name": "New"},
                          headers=auth)
    assert response.status_code == 400 and set(response.get_json()["errors"]) == {"value"}
    db.session.rollback()
    row = db.session.get(LoyaltyReward, reward["id"])
    assert (row.name, row.kind, row.points_cost) == ("$5 off", "fixed_amount", 400)

    # free shipping without a value takes 0
    response = client.put(url, json={"kind": "free_shipping"}, headers=auth)
    assert response.status_code == 200 and response.get_json()["value"] == "0"


def test_another_stores_reward_is_not_found(client, auth, other_shop):
    other = key_for(other_shop)
    _, theirs = create(client, other, FIVE_OFF)
    url = f"/api/loyalty/rewards/{theirs['id']}"
    assert client.get(url, headers=auth).status_code == 404
    assert client.put(url, json={"points_cost": 1}, headers=auth).status_code == 404
    assert client.delete(url, headers=auth).status_code == 404
    assert client.get("/api/loyalty/rewards", headers=auth).get_json() == {"rewards": []}
    db.session.rollback()
    row = db.session.get(LoyaltyReward, theirs["id"])
    assert (row.points_cost, row.deleted_at) == (500, None)


def test_delete_is_soft_and_the_redemptions_that_name_it_keep_it(client, auth, shop):
    _, reward = create(client, auth, FIVE_OFF)
    db.session.add(Redemption(shop_id=shop.id, customer_id=None, email="bob@example.com",
                              reward_id=reward["id"], reward=reward, points=500,
                              status="issued", code="STICKY-ABCD1234", idempotency_key="k1"))
    db.session.commit()
    url = f"/api/loyalty/rewards/{reward['id']}"

    assert client.delete(url, headers=auth).status_code == 204

    assert client.get(url, headers=auth).status_code == 404
    assert client.put(url, json={"active": True}, headers=auth).status_code == 404
    assert client.delete(url, headers=auth).status_code == 404
    assert client.get("/api/loyalty/rewards", headers=auth).get_json() == {"rewards": []}
    db.session.rollback()
    row = db.session.get(LoyaltyReward, reward["id"])
    assert row.deleted_at is not None and row.active is False
    redemption = db.session.execute(select(Redemption)).scalar_one()
    assert redemption.reward_id == reward["id"]
