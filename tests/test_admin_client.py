"""The Shopify Admin GraphQL client: throttling, retries, typed errors (HTTP edge stubbed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

from connectors.shopify.admin import (
    AdminAuthError,
    AdminClient,
    AdminThrottled,
    AdminUnavailable,
    GraphQLError,
    UserErrors,
    gid_tail,
)
from connectors.shopify.bulk import start_bulk_query

GRAPHQL = Path(__file__).parent / "fixtures" / "shopify" / "graphql"
DOMAIN = "sticky-test.myshopify.com"
ENDPOINT = f"https://{DOMAIN}/admin/api/2026-10/graphql.json"
QUERY = "query { shop { name } }"


def fixture(name: str) -> dict:
    return json.loads((GRAPHQL / f"{name}.json").read_text())


class FakeTime:
    """A clock that only moves when the client sleeps, so waits are exact and instant."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def client(fake_time):
    return AdminClient(DOMAIN, "shpat_secret_token", api_version="2026-10",
                       sleep=fake_time.sleep, clock=fake_time.clock)


@responses.activate
def test_query_posts_to_the_pinned_version_with_the_token_header(client):
    # given
    responses.post(ENDPOINT, json=fixture("shop"))
    # when
    data = client.execute(QUERY, {"unused": 1})
    # then
    assert data == {"shop": {"name": "Sticky Test"}}
    sent = responses.calls[0].request
    assert sent.url == ENDPOINT
    assert sent.headers["X-Shopify-Access-Token"] == "shpat_secret_token"
    assert json.loads(sent.body) == {"query": QUERY, "variables": {"unused": 1}}
    assert "shpat_secret_token" not in repr(client)


@responses.activate
def test_throttled_in_a_200_waits_for_the_bucket_then_succeeds(client, fake_time):
    # given: Shopify's THROTTLED answer (requested 502, 417 available, 50/s restore), then data
    responses.post(ENDPOINT, json=fixture("throttled"))
    responses.post(ENDPOINT, json=fixture("shop"))
    # when
    data = client.execute(QUERY)
    # then: it waited exactly long enough for 85 points to come back, and retried once
    assert data["shop"]["name"] == "Sticky Test"
    assert len(responses.calls) == 2
    assert fake_time.sleeps == [pytest.approx(1.7)]


@responses.activate
def test_a_query_costing_more_than_is_available_waits_before_it_is_sent(client, fake_time):
    # given: a first answer says the query costs 300 and only 10 points are left (100/s)
    expensive = fixture("shop")
    expensive["extensions"]["cost"].update(requestedQueryCost=300, actualQueryCost=280)
    expensive["extensions"]["cost"]["throttleStatus"].update(currentlyAvailable=10)
    responses.post(ENDPOINT, json=expensive)
    responses.post(ENDPOINT, json=fixture("shop"))
    client.execute(QUERY)
    assert fake_time.sleeps == []
    # when: the same query is sent again
    client.execute(QUERY)
    # then: it first waited for 290 points at 100 per second
    assert fake_time.sleeps == [pytest.approx(2.9)]


@responses.activate
def test_still_throttled_after_every_retry_raises_admin_throttled(fake_time):
    # given
    client = AdminClient(DOMAIN, "t", api_version="2026-10", throttle_retries=2,
                         sleep=fake_time.sleep, clock=fake_time.clock)
    responses.post(ENDPOINT, json=fixture("throttled"))
    # when / then
    with pytest.raises(AdminThrottled):
        client.execute(QUERY)
    assert len(responses.calls) == 3


@responses.activate
def test_429_with_retry_after_is_retried_after_that_many_seconds(client, fake_time):
    # given
    responses.post(ENDPOINT, status=429, headers={"Retry-After": "2.0"},
                   json={"errors": "Exceeded 2 calls per second for api client."})
    responses.post(ENDPOINT, json=fixture("shop"))
    # when
    data = client.execute(QUERY)
    # then
    assert data["shop"]["name"] == "Sticky Test"
    assert fake_time.sleeps == [2.0]


@responses.activate
def test_429_every_time_raises_admin_throttled_with_retry_after(client):
    # given
    responses.post(ENDPOINT, status=429, headers={"Retry-After": "4"}, json={"errors": "slow"})
    # when / then
    with pytest.raises(AdminThrottled) as raised:
        client.execute(QUERY)
    assert raised.value.retry_after == 4.0


@responses.activate
def test_401_raises_admin_auth_error(client):
    responses.post(ENDPOINT, status=401,
                   json={"errors": "[API] Invalid API key or access token (unrecognized login "
                                   "or wrong password)"})
    with pytest.raises(AdminAuthError, match="refused the access token"):
        client.execute(QUERY)
    assert len(responses.calls) == 1  # never retried


@responses.activate
def test_access_denied_graphql_error_raises_admin_auth_error(client):
    responses.post(ENDPOINT, json=fixture("access_denied"))
    with pytest.raises(AdminAuthError, match="read_customers"):
        client.execute("query { customers(first: 1) { nodes { id } } }")


@responses.activate
def test_a_bad_query_raises_graphql_error_with_its_code(client):
    responses.post(ENDPOINT, json=fixture("undefined_field"))
    with pytest.raises(GraphQLError) as raised:
        client.execute("query { shop { nope } }")
    assert raised.value.codes == {"undefinedField"}
    assert "doesn't exist" in str(raised.value)


@responses.activate
def test_user_errors_of_a_mutation_raise_user_errors(client):
    responses.post(ENDPOINT, json=fixture("bulk_run_in_progress"))
    with pytest.raises(UserErrors, match="already in progress") as raised:
        start_bulk_query(client, "{ orders { edges { node { id } } } }")
    assert raised.value.user_errors[0]["code"] == "OPERATION_IN_PROGRESS"


@responses.activate
def test_timeouts_are_retried_then_raise_admin_unavailable(client, fake_time):
    responses.post(ENDPOINT, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(AdminUnavailable, match="ReadTimeout"):
        client.execute(QUERY)
    assert len(responses.calls) == 5  # the first try and HttpClient's four retries
    assert len(fake_time.sleeps) == 4


@responses.activate
def test_server_errors_are_retried_then_succeed(client):
    responses.post(ENDPOINT, status=502, body="Bad Gateway")
    responses.post(ENDPOINT, json=fixture("shop"))
    assert client.execute(QUERY)["shop"]["name"] == "Sticky Test"


def test_gid_tail_gives_the_id_webhooks_use():
    assert gid_tail("gid://shopify/Order/450789469") == "450789469"
    assert gid_tail("gid://shopify/Customer/7?x=1") == "7"
    assert gid_tail(None) is None
