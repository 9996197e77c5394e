"""`/api/customers/<id>/notes` and `/tags`, the profile's `notes` and `merchant_tags`, and
the OpenAPI description of them."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from app.customers.models import CustomerNote, CustomerTag
from app.profiles.models import TimelineEvent
from tests.customer_helpers import api_key_headers, customer_row


@pytest.fixture
def bo(session, shop):
    customer = customer_row(session, shop, first_name="Bo", email="bo@example.com")
    session.commit()
    return customer


@pytest.fixture
def api(session, shop):
    return api_key_headers(session, shop)


def test_a_note_added_through_the_api_is_on_the_profile_and_its_timeline(client, bo, api):
    response = client.post(f"/api/customers/{bo.id}/notes", json={"body": "  Call back.  "},
                           headers=api)
    assert response.status_code == 201
    note = response.get_json()
    assert (note["body"], note["author"]) == ("Call back.", "API")
    profile = client.get(f"/api/customers/{bo.id}", headers=api).get_json()
    assert profile["notes"] == [note]
    (event,) = profile["timeline"]
    assert (event["kind"], event["ref"]) == ("note_added", f"note:{note['id']}")
    assert event["data"]["body"] == "Call back." and event["data"]["author"] == "API"
    # everything the profile had before is still there
    for key in ("orders", "carts", "points_ledger", "messages", "merchant_tags", "tags"):
        assert key in profile


def test_tags_through_the_api_are_unique_in_any_case_and_removable(client, session, bo, api):
    first = client.post(f"/api/customers/{bo.id}/tags", json={"tag": "VIP"}, headers=api)
    again = client.post(f"/api/customers/{bo.id}/tags", json={"tag": " vip "}, headers=api)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    client.post(f"/api/customers/{bo.id}/tags", json={"tag": "Wholesale lead"}, headers=api)
    profile = client.get(f"/api/customers/{bo.id}", headers=api).get_json()
    assert profile["merchant_tags"] == ["VIP", "Wholesale lead"]
    listed = client.get("/api/customers?tag=vip", headers=api).get_json()
    assert [c["merchant_tags"] for c in listed["customers"]] == [["VIP", "Wholesale lead"]]
    # when a tag is deleted by its text, in any case
    assert client.delete(f"/api/customers/{bo.id}/tags/vip", headers=api).status_code == 204
    gone = client.delete(f"/api/customers/{bo.id}/tags/vip", headers=api)
    assert gone.status_code == 404 and "no tag" in gone.get_json()["message"]
    assert client.delete(f"/api/customers/{bo.id}/tags/Wholesale%20lead",
                         headers=api).status_code == 204
    session.rollback()
    assert session.execute(select(CustomerTag)).first() is None
    kinds = sorted(session.execute(select(TimelineEvent.kind)).scalars())
    assert kinds == ["tag_added", "tag_added", "tag_removed", "tag_removed"]


@pytest.mark.parametrize("path, body, words", [
    ("notes", {"body": ""}, "body: Write something"),
    ("notes", {"body": 42}, "body: Write the note as text"),
    ("notes", {"body": "a\x00b"}, "NUL"),
    ("notes", {"text": "wrong key"}, "body: Write the note as text"),
    ("notes", ["not", "an", "object"], 'body: send a JSON object like {"body": "..."}'),
    ("notes", {"body": "x" * 5001}, "5,000 characters"),
    ("tags", {"tag": "  "}, "tag: Enter a tag"),
    ("tags", {"tag": "x" * 65}, "64 characters"),
    ("tags", {"tag": "a, b"}, "comma"),
    ("tags", {"tag": "a\x00b"}, "control characters"),
    ("tags", {"tag": "İ" * 64}, "64 characters"),  # lower case is 128 characters long
])
def test_invalid_input_is_a_400_with_the_reason(client, session, bo, api, path, body, words):
    response = client.post(f"/api/customers/{bo.id}/{path}", json=body, headers=api)
    assert response.status_code == 400
    assert words in response.get_json()["message"]
    session.rollback()
    assert session.execute(select(CustomerNote)).first() is None
    assert session.execute(select(CustomerTag)).first() is None


def test_a_body_that_is_not_json_is_a_400(client, bo, api):
    response = client.post(f"/api/customers/{bo.id}/notes", data="body=hi", headers=api)
    assert response.status_code == 400


def test_another_stores_customer_is_a_404_for_every_route(client, session, other_shop, api):
    theirs = customer_row(session, other_shop, first_name="Elsewhere")
    session.commit()
    for method, path, body in (("post", "notes", {"body": "x"}), ("post", "tags", {"tag": "x"}),
                               ("delete", "tags/x", None), ("get", "", None)):
        url = f"/api/customers/{theirs.id}/{path}".rstrip("/")
        response = client.open(url, method=method.upper(), json=body, headers=api)
        assert response.status_code == 404, url
    session.rollback()
    assert session.execute(select(CustomerNote)).first() is None


def test_the_openapi_document_describes_the_new_routes(client):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    paths = spec["paths"]
    assert "post" in paths["/api/customers/{id}/notes"]
    assert "post" in paths["/api/customers/{id}/tags"]
    assert "delete" in paths["/api/customers/{id}/tags/{tag}"]
    assert "text/csv" in paths["/api/customers/export.csv"]["get"]["responses"]["200"][
        "content"]
    names = {p["name"] for p in paths["/api/customers"]["get"]["parameters"]}
    assert {"q", "email", "segment", "tag", "has_orders", "email_marketing", "last_order_from",
            "last_order_to", "min_spent", "max_spent", "sort", "page", "per_page"} <= names
    detail = paths["/api/customers/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]["allOf"][1]["properties"]
    assert {"notes", "merchant_tags"} <= set(detail)
