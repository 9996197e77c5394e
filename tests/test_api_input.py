"""`/api` given hostile or odd input: always a 4xx with a reason, never a 500."""

from __future__ import annotations

import time

import jwt
import pytest

from app.routing import MAX_ID
from tests.conftest import SHOPIFY_KEY, SHOPIFY_SECRET, post_webhook, run_worker
from tests.factories import customer_payload


def token_with(dest, *, iss=None) -> str:
    """A correctly signed App Bridge session token whose `dest` (and `iss`) are given as is."""
    now = int(time.time())
    claims = {"iss": iss if iss is not None else f"{dest}/admin", "dest": dest,
              "aud": SHOPIFY_KEY, "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5,
              "jti": "5d7e1a8c-3a8e-4c1e-9a51-8f0e1f3a4b6c", "sid": "b0c2e3f4-1a2b"}
    return jwt.encode(claims, SHOPIFY_SECRET, algorithm="HS256")


def auth(dest: str = "https://sticky-test.myshopify.com") -> dict[str, str]:
    return {"Authorization": f"Bearer {token_with(dest)}"}


@pytest.mark.parametrize("path", [
    f"/api/customers/{MAX_ID + 1}",
    f"/api/customers/{2**64}",
    "/api/customers/" + "9" * 40,
    f"/api/compliance/exports/{MAX_ID + 1}",
    "/api/compliance/exports/" + "9" * 40,
])
def test_an_id_past_2_63_is_a_404_with_a_reason(client, shop, path):
    response = client.get(path, headers=auth())
    assert response.status_code == 404
    assert "larger than any id" in response.get_json()["message"]


def test_the_largest_id_is_an_ordinary_not_found(client, shop):
    response = client.get(f"/api/customers/{MAX_ID}", headers=auth())
    assert response.status_code == 404
    assert f"no customer {MAX_ID} in this store" in response.get_json()["message"]
    response = client.get(f"/api/compliance/exports/{MAX_ID}", headers=auth())
    assert response.status_code == 404
    assert "no data export" in response.get_json()["message"]


def test_every_int_route_of_the_app_is_bounded(app, client, shop):
    # Whatever blueprint adds an `<int:...>` route, now or later, gets the same bound: the
    # app's `int` converter is the bounded one.
    rules = [rule for rule in app.url_map.iter_rules() if "<int:" in rule.rule]
    assert len(rules) >= 2
    for rule in rules:
        too_big = {name: MAX_ID + 1 for name in rule.arguments}
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(too_big[name]))
        method = next(m for m in ("GET", "POST", "PUT", "DELETE") if m in rule.methods)
        response = client.open(path, method=method, headers=auth())
        assert response.status_code == 404, rule.rule
        # /api answers JSON; a panel address answers with a page saying the same
        said = (response.get_json()["message"] if response.is_json
                else response.get_data(as_text=True))
        assert "larger than any id" in said, rule.rule


@pytest.mark.parametrize("dest", [
    "http://[::1",                                   # urlsplit raises ValueError
    "https://[sticky-test.myshopify.com",            # an unclosed IPv6 bracket
    12345,                                           # not a string at all
    ["https://sticky-test.myshopify.com"],
    {"host": "sticky-test.myshopify.com"},
    None,
    "",
    "https://sticky-test.myshopify.com:99999999",   # a port out of range
    "https://sticky\x00test.myshopify.com",         # NUL: PostgreSQL refuses it in a query
    "https://sticky_test.myshopify.com",
])
def test_a_session_token_with_an_unusable_dest_is_401_with_a_reason(client, shop, dest):
    response = client.get("/api/customers", headers={
        "Authorization": f"Bearer {token_with(dest, iss=f'{dest}/admin')}"})
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert "dest" in response.get_json()["message"]


def test_a_dest_in_capitals_still_names_the_store(client, shop):
    response = client.get("/api/customers", headers=auth("https://Sticky-Test.MyShopify.com"))
    assert response.status_code == 200


@pytest.fixture
def wildcard_people(app, client, shop):
    people = [
        ("a_b@example.com", "Under", "Score"),
        ("axb@example.com", "Plain", "Letter"),
        ("pct@example.com", "100%", "Sure"),
        ("num@example.com", "1000", "Sure"),
        ("slash@example.com", "A/B", "Tester"),
        ("back@example.com", "C\\D", "Tester"),
    ]
    for email, first, last in people:
        payload = customer_payload(email=email, first_name=first, last_name=last)
        assert post_webhook(client, "customers/create", payload).status_code == 200
    run_worker(app)


def _emails(client, q: str) -> set[str]:
    response = client.get("/api/customers", query_string={"q": q}, headers=auth())
    assert response.status_code == 200
    return {c["email"] for c in response.get_json()["customers"]}


@pytest.mark.parametrize("q, expected", [
    ("_", {"a_b@example.com"}),               # not "any one character"
    ("a_b", {"a_b@example.com"}),
    ("%", {"pct@example.com"}),               # not "anything"
    ("100%", {"pct@example.com"}),
    ("/", {"slash@example.com"}),             # SQLAlchemy's autoescape character
    ("a/b", {"slash@example.com"}),
    ("\\", {"back@example.com"}),             # PostgreSQL's default LIKE escape
    ("c\\d", {"back@example.com"}),
    ("sure", {"pct@example.com", "num@example.com"}),
    ("100", {"pct@example.com", "num@example.com"}),
])
def test_q_treats_like_wildcards_as_plain_characters(client, wildcard_people, q, expected):
    assert _emails(client, q) == expected


@pytest.mark.parametrize("dest", ["http://[::1", "https://[sticky-test.myshopify.com", 12345])
def test_the_embedded_panel_refuses_an_unusable_dest_with_401(client, shop, dest):
    # `/admin?id_token=...` checks the same kind of token through shopifyapp.
    response = client.get("/admin", query_string={
        "shop": "sticky-test.myshopify.com", "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc3RpY2t5",
        "embedded": "1", "id_token": token_with(dest, iss=f"{dest}/admin")})
    assert response.status_code == 401
    assert "dest is not a Shopify store URL" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", [{"q": "a\x00b"}, {"email": "a\x00@example.com"},
                                   {"segment": "\x00"}, {"page": "1\x00"}])
def test_a_nul_character_in_a_query_parameter_is_a_400(client, shop, query):
    # PostgreSQL cannot hold NUL in a string: handed to a query it used to be a 500.
    response = client.get("/api/customers", query_string=query, headers=auth())
    assert response.status_code == 400
    assert "NUL" in response.get_json()["message"]
