"""`GET|PUT /api/loyalty/program`: the defaults, partial saves that make versions, each bad
field named with nothing saved, and one store never seeing another's program."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from app.db import db
from app.loyalty.models import LoyaltyProgramVersion
from app.loyalty.program import read_program
from app.shops.service import create_api_key
from tests.test_api import bearer

DESIGN_FIELDS = ("enabled", "points_per_unit", "award_on", "pending_days", "include_shipping",
                 "include_tax", "signup_points", "first_order_points", "birthday_points",
                 "negative_balance", "expiry_days", "tier_basis", "tier_period", "tiers")


def key_for(shop) -> dict[str, str]:
    _, key = create_api_key(db.session, shop)
    db.session.commit()
    return bearer(key)


@pytest.fixture
def auth(shop) -> dict[str, str]:
    return key_for(shop)


def put(client, auth, body) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.put("/api/loyalty/program", data=raw,
                          headers={**auth, "Content-Type": "application/json"})
    return response.status_code, response.get_json()


def versions(shop_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(LoyaltyProgramVersion)
                             .where(LoyaltyProgramVersion.shop_id == shop_id))


def test_a_store_that_never_saved_gets_the_defaults_with_the_design_fields(client, auth):
    response = client.get("/api/loyalty/program", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert set(DESIGN_FIELDS) <= set(body)
    assert (body["enabled"], body["points_per_unit"], body["award_on"], body["expiry_days"],
            body["tiers"], body["version"]) == (False, "1", "paid", None, [], 0)


def test_a_partial_put_changes_only_its_fields_and_each_change_is_a_version(client, auth, shop):
    status, body = put(client, auth, {"enabled": True, "points_per_unit": "2.5"})
    assert status == 200, body
    assert (body["enabled"], body["points_per_unit"], body["award_on"], body["version"]) == (
        True, "2.5", "paid", 1)

    status, body = put(client, auth, {"tiers": [
        {"name": "Silver", "threshold": "200", "multiplier": "1.25"},
        {"name": "Gold", "threshold": "500", "multiplier": "1.5", "perks": "Free shipping"}]})
    assert status == 200, body
    assert body["version"] == 2 and body["points_per_unit"] == "2.5"
    assert [t["name"] for t in body["tiers"]] == ["Silver", "Gold"]
    assert body["tiers"][1] == {"name": "Gold", "threshold": "500", "multiplier": "1.5",
                                "perks": "Free shipping"}
    # saving what is already there makes no version
    status, body = put(client, auth, {"enabled": True})
    assert (status, body["version"]) == (200, 2)
    assert versions(shop.id) == 2
    assert client.get("/api/loyalty/program", headers=auth).get_json()["version"] == 2


def test_every_bad_field_is_named_and_nothing_is_saved(client, auth, shop):
    put(client, auth, {"points_per_unit": "3"})
    status, body = put(client, auth, {
        "enabled": "yes", "points_per_unit": "lots", "award_on": "shipped",
        "pending_days": -1, "signup_points": 1_000_001, "negative_balance": "never",
        "expiry_days": 0, "tier_basis": "visits", "colour": "red",
        "tiers": [{"name": "Gold", "threshold": "500"}, {"name": "Silver", "threshold": "100"}],
    })
    assert status == 400
    assert body["status"] == 400 and body["message"]
    assert set(body["errors"]) == {"enabled", "points_per_unit", "award_on", "pending_days",
                                   "signup_points", "negative_balance", "expiry_days",
                                   "tier_basis", "colour", "tiers.1.threshold"}
    assert "higher than the tier before" in body["errors"]["tiers.1.threshold"]
    assert "not a program setting" in body["errors"]["colour"]
    db.session.rollback()
    program = read_program(db.session, shop.id)
    assert (program.points_per_unit, program.version, program.enabled) == (3, 1, False)
    assert versions(shop.id) == 1


def test_rules_between_fields_refuse_the_whole_save(client, auth, shop):
    status, body = put(client, auth, {"expiry_days": 30, "expiry_warning_days": 30,
                                      "referral_friend_kind": "percentage",
                                      "referral_friend_value": "150"})
    assert status == 400
    assert set(body["errors"]) == {"expiry_warning_days", "referral_friend_value"}
    assert versions(shop.id) == 0


@pytest.mark.parametrize("raw, field", [
    (b"{not json", "body"), (b"[1, 2]", "body"), (b"[" * 5000 + b"]" * 5000, "body")])
def test_a_body_that_is_not_an_object_is_a_400(client, auth, raw, field):
    status, body = put(client, auth, raw)
    assert status == 400 and field in body["errors"]


def test_a_store_never_sees_or_changes_anothers_program(client, auth, shop, other_shop):
    other = key_for(other_shop)
    assert put(client, other, {"enabled": True, "signup_points": 50})[0] == 200
    mine = client.get("/api/loyalty/program", headers=auth).get_json()
    assert (mine["enabled"], mine["signup_points"], mine["version"]) == (False, 0, 0)


def test_without_a_credential_it_is_a_401(client, shop):
    assert client.get("/api/loyalty/program").status_code == 401
    assert client.put("/api/loyalty/program", json={"enabled": True}).status_code == 401


def test_the_openapi_description_holds_the_loyalty_paths_and_is_valid(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    assert {"get", "put"} <= set(spec["paths"]["/api/loyalty/program"])
    assert {"put", "delete"} <= set(spec["paths"]["/api/loyalty/rewards/{id}"])
    program = spec["paths"]["/api/loyalty/program"]["get"]["responses"]["200"]
    assert set(DESIGN_FIELDS) <= set(program["content"]["application/json"]["schema"]
                                     ["properties"])
