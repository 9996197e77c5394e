"""`GET|PUT /api/settings`: defaults, partial updates, each field's rule and its words,
all-or-nothing writes, and one store never seeing or changing another's settings."""

from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate
from sqlalchemy import func, select

from app.db import db
from app.settings.models import ShopSettings
from app.settings.timezone import shop_zone
from app.shops.service import create_api_key
from tests.test_api import bearer, session_token

DEFAULTS = {
    "sender_name": "sticky-test",
    "sender_email": None,
    "reply_to": None,
    "timezone": "UTC",
    "smart_sending_hours": 16,
    "quiet_hours": None,
    "attribution_click_days": 5,
    "attribution_open_days": 5,
}


@pytest.fixture
def auth(shop) -> dict[str, str]:
    _, key = create_api_key(db.session, shop)
    db.session.commit()
    return bearer(key)


def put(client, auth, body) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.put("/api/settings", data=raw, headers={
        **auth, "Content-Type": "application/json"})
    return response.status_code, response.get_json()


def design_fields(body: dict) -> dict:
    return {name: body[name] for name in DEFAULTS}


def test_a_store_without_settings_gets_the_defaults(client, auth):
    response = client.get("/api/settings", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert design_fields(body) == DEFAULTS
    assert (body["timezone_source"], body["can_send"], body["updated_at"]) == ("utc", False, None)


def test_defaults_follow_the_store_name_and_the_platforms_time_zone(client, auth, shop):
    shop.name, shop.timezone = "Hopperton Hats", "America/Toronto"
    db.session.commit()
    body = client.get("/api/settings", headers=auth).get_json()
    assert (body["sender_name"], body["timezone"], body["timezone_source"],
            body["platform_timezone"]) == ("Hopperton Hats", "America/Toronto", "platform",
                                           "America/Toronto")


def test_put_saves_every_field_and_get_reads_them_back(client, auth, shop):
    changes = {"sender_name": "Grace at Hopperton", "sender_email": "Hello@Hopperton.example",
               "reply_to": "care@hopperton.example", "timezone": "Europe/Paris",
               "smart_sending_hours": 24, "quiet_hours": {"start": "22:00", "end": "07:30"},
               "attribution_click_days": 7, "attribution_open_days": 0}
    status, body = put(client, auth, changes)
    assert status == 200
    # the domain of an address is normalized to lower case, its local part kept as typed
    assert design_fields(body) == {**changes, "sender_email": "Hello@hopperton.example"}
    assert body["can_send"] is True and body["timezone_source"] == "sticky"
    assert design_fields(client.get("/api/settings", headers=auth).get_json()) == \
        design_fields(body)
    # and the rest of Sticky sees the store's days in the chosen zone
    assert shop_zone(db.session, shop).key == "Europe/Paris"


def test_put_of_some_fields_keeps_the_others(client, auth):
    put(client, auth, {"sender_email": "hello@shop.example", "smart_sending_hours": 8})
    status, body = put(client, auth, {"attribution_click_days": 10})
    assert status == 200
    assert design_fields(body) == {**DEFAULTS, "sender_email": "hello@shop.example",
                                   "smart_sending_hours": 8, "attribution_click_days": 10}


def test_null_goes_back_to_the_default_or_unsets(client, auth, shop):
    shop.timezone = "Asia/Tokyo"
    db.session.commit()
    put(client, auth, {"sender_name": "Shop", "timezone": "Europe/Paris",
                       "sender_email": "a@shop.example", "quiet_hours": {"start": "01:00",
                                                                        "end": "02:00"}})
    status, body = put(client, auth, {"sender_name": None, "timezone": None,
                                      "sender_email": None, "quiet_hours": None})
    assert status == 200
    assert (body["sender_name"], body["timezone"], body["sender_email"],
            body["quiet_hours"]) == ("sticky-test", "Asia/Tokyo", None, None)


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"sender_name": ""}, "sender_name", "must be 1 to 100 characters"),
    ({"sender_name": "   "}, "sender_name", "must be 1 to 100 characters"),
    ({"sender_name": "x" * 101}, "sender_name", "must be 1 to 100 characters"),
    ({"sender_name": "Shop\r\nBcc: everyone@example.com"}, "sender_name",
     "must be one line of printable characters (no line breaks or tabs)"),
    ({"sender_name": "Nul\u0000Shop"}, "sender_name",
     "must be one line of printable characters (no line breaks or tabs)"),
    ({"sender_name": 42}, "sender_name", "must be text"),
    ({"sender_email": "not an address"}, "sender_email",
     "must be a valid email address: an email address must have an @-sign"),
    ({"sender_email": "hello there@shop.example"}, "sender_email",
     "must be a valid email address: the email address contains invalid characters before "
     "the @-sign: SPACE"),
    ({"sender_email": "hello@localhost"}, "sender_email",
     "must be a valid email address: the part after the @-sign is not valid. It should "
     "have a period"),
    ({"sender_email": ""}, "sender_email",
     "must be an email address such as hello@yourstore.com"),
    ({"reply_to": ["a@b.example"]}, "reply_to", "must be an email address (text), or null"),
    ({"reply_to": "grâce@shop.example"}, "reply_to",
     "must be a valid email address: internationalized characters before the @-sign are "
     "not supported: 'â'"),
    ({"timezone": "Mars/Olympus_Mons"}, "timezone",
     "must be an IANA time zone name such as Europe/Paris, or null to follow the store's "
     "platform"),
    ({"timezone": 1}, "timezone",
     "must be an IANA time zone name such as Europe/Paris, or null to follow the store's "
     "platform"),
    ({"smart_sending_hours": 169}, "smart_sending_hours",
     "must be a whole number of hours from 0 to 168"),
    ({"smart_sending_hours": -1}, "smart_sending_hours",
     "must be a whole number of hours from 0 to 168"),
    ({"smart_sending_hours": 16.5}, "smart_sending_hours",
     "must be a whole number of hours from 0 to 168"),
    ({"smart_sending_hours": "16"}, "smart_sending_hours",
     "must be a whole number of hours from 0 to 168"),
    ({"smart_sending_hours": True}, "smart_sending_hours",
     "must be a whole number of hours from 0 to 168"),
    ({"attribution_click_days": 91}, "attribution_click_days",
     "must be a whole number of days from 0 to 90"),
    ({"attribution_open_days": None}, "attribution_open_days",
     "must be a whole number of days from 0 to 90"),
    ({"quiet_hours": "22:00-08:00"}, "quiet_hours",
     'must be null or {"start": "HH:MM", "end": "HH:MM"}'),
    ({"quiet_hours": {"start": "24:00", "end": "08:00"}}, "quiet_hours.start",
     "must be a time of day as HH:MM, from 00:00 to 23:59"),
    ({"quiet_hours": {"start": "22:00", "end": "8:00"}}, "quiet_hours.end",
     "must be a time of day as HH:MM, from 00:00 to 23:59"),
    ({"quiet_hours": {"start": "22:00"}}, "quiet_hours.end", "is required"),
    ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours.end",
     "must differ from the start (quiet hours of no length mean none: turn them off instead)"),
    ({"quiet_hours": {"start": "22:00", "end": "08:00", "days": 5}}, "quiet_hours.days",
     "is not a field of quiet hours (only start and end are)"),
    ({"smart_sending": 24}, "smart_sending",
     "is not a setting (settings are sender_name, sender_email, reply_to, timezone, "
     "smart_sending_hours, quiet_hours, attribution_click_days, attribution_open_days)"),
])
def test_an_invalid_value_is_a_400_naming_the_field_and_why(client, auth, changes, field,
                                                            reason):
    status, body = put(client, auth, changes)
    assert status == 400
    assert body["errors"] == {field: reason}
    assert body["message"] == f"{field}: {reason}"
    assert db.session.execute(select(func.count()).select_from(ShopSettings)).scalar_one() == 0


def test_a_put_with_one_bad_field_changes_nothing(client, auth):
    put(client, auth, {"smart_sending_hours": 8, "sender_email": "old@shop.example"})
    status, body = put(client, auth, {"smart_sending_hours": 48, "sender_email": "new@shop.example",
                                      "attribution_open_days": 365, "colour": "red"})
    assert status == 400
    assert set(body["errors"]) == {"attribution_open_days", "colour"}
    saved = client.get("/api/settings", headers=auth).get_json()
    assert (saved["smart_sending_hours"], saved["sender_email"]) == (8, "old@shop.example")


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[" * 5000 + b"]" * 5000])
def test_a_body_that_is_not_json_is_a_400(client, auth, raw):
    status, body = put(client, auth, raw)
    assert status == 400
    assert body["errors"] == {"body": "is not JSON"}


@pytest.mark.parametrize("raw", [b"[]", b'"sender_name"', b"null"])
def test_a_body_that_is_not_an_object_is_a_400(client, auth, raw):
    status, body = put(client, auth, raw)
    assert status == 400
    assert list(body["errors"]) == ["body"]


def test_settings_belong_to_the_credentials_store_only(client, auth, shop, other_shop):
    # given each store saves its own sender
    put(client, auth, {"sender_email": "a@first.example"})
    other = bearer(session_token(other_shop.domain))
    status, _ = put(client, other, {"sender_email": "b@other.example",
                                    "smart_sending_hours": 2})
    assert status == 200
    # then each reads only its own
    mine = client.get("/api/settings", headers=auth).get_json()
    theirs = client.get("/api/settings", headers=other).get_json()
    assert (mine["sender_email"], mine["smart_sending_hours"]) == ("a@first.example", 16)
    assert (theirs["sender_email"], theirs["smart_sending_hours"]) == ("b@other.example", 2)


def test_settings_need_a_credential(client, shop):
    assert client.get("/api/settings").status_code == 401
    assert client.put("/api/settings", json={"smart_sending_hours": 1}).status_code == 401


def test_openapi_describes_the_settings_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    path = spec["paths"]["/api/settings"]
    assert set(path) == {"get", "put"}
    schema = path["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(DEFAULTS) <= set(schema["required"])
