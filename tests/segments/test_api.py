"""`/api/segments` and `/api/customers?segment=<id>`: shapes, live counts, errors by path,
built-ins, and another store's segments out of reach."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from openapi_spec_validator import validate as validate_spec

from app.db import utcnow
from app.segments.rules import RFM_SEGMENTS
from tests.customer_helpers import api_key_headers
from tests.segments.support import person, store

BIG = {"all": [{"field": "total_spent", "op": "gte", "value": "100"}]}


@pytest.fixture
def api(client, session, shop):
    headers = api_key_headers(session, shop)

    class Api:
        def get(self, path, **kw):
            return client.get(path, headers=headers, **kw)

        def post(self, path, body=None, **kw):
            return client.post(path, json=body, headers=headers, **kw)

        def put(self, path, body=None, **kw):
            return client.put(path, json=body, headers=headers, **kw)

        def delete(self, path, **kw):
            return client.delete(path, headers=headers, **kw)

    return Api()


@pytest.fixture
def buyers(session, shop):
    now = utcnow()
    rows = store(session, shop, [
        person(total_spent=Decimal("150"), orders_count=2, last_order_at=now - timedelta(days=3),
               rfm_segment="Champions"),
        person(total_spent=Decimal("100"), orders_count=1, last_order_at=now - timedelta(days=200),
               rfm_segment="Lost"),
        person(total_spent=Decimal("20"), orders_count=1, last_order_at=now - timedelta(days=1)),
    ])
    session.commit()
    return rows


def test_a_saved_segment_has_its_live_count_and_is_listed(api, buyers):
    # when a segment of big spenders is saved
    response = api.post("/api/segments", {"name": "Big spenders", "rules": BIG})
    # then it answers with its fields and the two customers who spent 100 or more
    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "Big spenders" and body["builtin"] is False
    assert body["rules"] == BIG and body["count"] == 2
    # and the list has it first, then one built-in per RFM group
    listed = api.get("/api/segments").get_json()["segments"]
    assert [s["name"] for s in listed] == ["Big spenders", *(f"RFM: {n}" for n in RFM_SEGMENTS)]
    counts = {s["name"]: s["count"] for s in listed}
    assert counts["RFM: Champions"] == 1 and counts["RFM: Lost"] == 1
    assert counts["RFM: New"] == 0


def test_a_segment_can_be_changed_and_deleted(api, buyers):
    segment = api.post("/api/segments", {"name": "Big", "rules": BIG}).get_json()
    recent = {"all": [{"field": "last_order_at", "op": "within_last_days", "value": 30}]}
    changed = api.put(f"/api/segments/{segment['id']}", {"rules": recent})
    assert changed.status_code == 200
    assert changed.get_json()["name"] == "Big" and changed.get_json()["count"] == 2
    assert api.get(f"/api/segments/{segment['id']}").get_json()["rules"] == recent
    assert api.delete(f"/api/segments/{segment['id']}").status_code == 204
    assert api.get(f"/api/segments/{segment['id']}").status_code == 404


def test_bad_rules_are_a_400_with_the_path_and_reason_and_nothing_is_saved(api, buyers):
    response = api.post("/api/segments", {"name": "Odd", "rules": {"all": [
        {"field": "total_spent", "op": "gte", "value": "100"},
        {"any": [{"field": "last_order_at", "op": "more_than_days_ago", "value": "soon"}]}]}})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert list(errors) == ["rules.all.1.any.0.value"]
    assert "whole number" in errors["rules.all.1.any.0.value"]
    assert api.get("/api/segments?counts=no").get_json()["segments"][0]["name"] != "Odd"
    # a missing name and a taken one are refused by name
    api.post("/api/segments", {"name": "Big", "rules": BIG})
    assert "name" in api.post("/api/segments", {"rules": BIG}).get_json()["errors"]
    taken = api.post("/api/segments", {"name": "big", "rules": BIG}).get_json()["errors"]
    assert taken == {"name": "Another segment has this name."}
    assert api.post("/api/segments", "not an object").status_code == 400


def test_built_in_segments_cannot_be_changed_or_deleted(api, buyers):
    listed = api.get("/api/segments?counts=no").get_json()["segments"]
    champions = next(s for s in listed if s["builtin_key"] == "rfm:Champions")
    assert champions["rules"] == {"all": [{"field": "rfm_segment", "op": "eq",
                                           "value": "Champions"}]}
    assert api.delete(f"/api/segments/{champions['id']}").status_code == 409
    assert api.put(f"/api/segments/{champions['id']}", {"name": "Mine"}).status_code == 400
    assert api.get(f"/api/segments/{champions['id']}").get_json()["count"] == 1
    # and their names are kept for them
    clash = api.post("/api/segments", {"name": "RFM: Mine", "rules": BIG})
    assert "name" in clash.get_json()["errors"]


def test_the_preview_counts_and_shows_customers_without_saving(api, buyers):
    response = api.post("/api/segments/preview", {"rules": BIG})
    assert response.status_code == 200
    body = response.get_json()
    assert body["count"] == 2
    # latest buyers first, in the shape of C
    assert [c["id"] for c in body["customers"]] == [buyers[0].id, buyers[1].id]
    assert body["customers"][0]["total_spent"] == "150.00"
    assert {"rfm_segment", "churn_risk", "predicted_clv"} <= set(body["customers"][0])
    bad = api.post("/api/segments/preview", {"rules": {"any": [{"field": "tier"}]}})
    assert bad.status_code == 400
    assert "rules.any.0.op" in bad.get_json()["errors"]
    assert api.post("/api/segments/preview", {}).status_code == 400
    assert api.get("/api/segments?counts=no").get_json()["segments"][0]["builtin"] is True


def test_the_customer_list_filters_by_a_saved_segment_or_an_rfm_name(api, buyers):
    segment = api.post("/api/segments", {"name": "Big", "rules": BIG}).get_json()
    by_id = api.get(f"/api/customers?segment={segment['id']}").get_json()
    assert by_id["total"] == 2
    assert {c["id"] for c in by_id["customers"]} == {buyers[0].id, buyers[1].id}
    by_name = api.get("/api/customers?segment=Lost").get_json()
    assert [c["id"] for c in by_name["customers"]] == [buyers[1].id]
    export = api.get(f"/api/customers/export.csv?segment={segment['id']}")
    assert export.status_code == 200 and export.headers["X-Total-Rows"] == "2"
    assert api.get("/api/customers?segment=999999").status_code == 404


def test_another_stores_segment_is_not_found(api, client, session, other_shop):
    theirs = client.post("/api/segments", json={"name": "Theirs", "rules": BIG},
                         headers=api_key_headers(session, other_shop)).get_json()
    for call in (api.get, api.delete, lambda p: api.put(p, {"name": "x"})):
        response = call(f"/api/segments/{theirs['id']}")
        assert response.status_code == 404
    assert api.get(f"/api/customers?segment={theirs['id']}").status_code == 404
    mine = api.get("/api/segments?counts=no").get_json()["segments"]
    assert "Theirs" not in {s["name"] for s in mine}


def test_the_openapi_description_has_the_segment_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    validate_spec(spec)
    assert {"/api/segments", "/api/segments/{id}", "/api/segments/preview"} <= set(spec["paths"])
