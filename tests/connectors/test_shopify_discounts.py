"""Single-use Shopify discount codes from plain values (Shopify stubbed at the HTTP edge)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import responses

from connectors.discounts import DiscountOutcomeUnknown, DiscountRefused, DiscountSpec
from connectors.http import HttpClient
from connectors.shopify.admin import AdminClient
from connectors.shopify.discounts import create_discount, find_discount
from tests.connectors.payloads import shopify_graphql

DOMAIN = "plain-values.myshopify.com"
ENDPOINT = f"https://{DOMAIN}/admin/api/2026-10/graphql.json"
STARTS = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def spec(**changes) -> DiscountSpec:
    values = {"code": "STICKY-7KQ2M9XW4H", "title": "Sticky reward: $10 off",
              "kind": "fixed_amount", "value": Decimal("10"), "minimum_order": Decimal("50"),
              "starts_at": STARTS, "ends_at": datetime(2026, 12, 20, 9, 30, tzinfo=UTC),
              "customer_platform_id": "207119551", "email": "bob@example.com"}
    return DiscountSpec(**{**values, **changes})


def client() -> AdminClient:
    return AdminClient(DOMAIN, "shpat_plain", api_version="2026-10",
                       http=HttpClient(retries=2, sleep=lambda _s: None),
                       sleep=lambda _s: None)


class Shopify:
    """Answers by operation name from a script; keeps every request's variables."""

    def __init__(self, rsps, script: dict[str, list]) -> None:
        self.script = script
        self.requests: list[tuple[str, dict]] = []
        rsps.add_callback(responses.POST, ENDPOINT, callback=self)

    def __call__(self, request):
        body = json.loads(request.body)
        name = body["query"].split("(")[0].split()[-1]
        self.requests.append((name, body.get("variables") or {}))
        answer = self.script[name].pop(0)
        if isinstance(answer, Exception):
            return 200, {}, answer
        if isinstance(answer, int):
            return answer, {}, "upstream error"
        return 200, {}, json.dumps(answer)

    def named(self, name: str) -> list[dict]:
        return [variables for op, variables in self.requests if op == name]


def test_an_amount_off_code_is_single_use_and_for_one_customer():
    with responses.RequestsMock() as rsps:
        shopify = Shopify(rsps, {"DiscountCodeBasicCreate": [
            shopify_graphql("discount_code_basic_create")]})
        made = create_discount(client(), spec())

    assert made.platform_id == "gid://shopify/DiscountCodeNode/1057371242"
    assert made.code == "STICKY-7KQ2M9XW4H"
    (sent,) = shopify.named("DiscountCodeBasicCreate")
    discount = sent["basicCodeDiscount"]
    assert discount["code"] == "STICKY-7KQ2M9XW4H"
    assert discount["usageLimit"] == 1 and discount["appliesOncePerCustomer"] is True
    assert discount["context"] == {"customers": {"add": ["gid://shopify/Customer/207119551"]}}
    assert "customerSelection" not in discount
    assert discount["customerGets"] == {
        "value": {"discountAmount": {"amount": "10.00", "appliesOnEachItem": False}},
        "items": {"all": True}}
    assert discount["minimumRequirement"] == {
        "subtotal": {"greaterThanOrEqualToSubtotal": "50.00"}}
    assert (discount["startsAt"], discount["endsAt"]) == ("2026-11-20T09:30:00Z",
                                                          "2026-12-20T09:30:00Z")


def test_a_percentage_is_a_fraction_and_free_shipping_has_its_own_mutation():
    free_shipping = shopify_graphql("discount_code_basic_create")
    free_shipping["data"] = {"discountCodeFreeShippingCreate":
                             free_shipping["data"]["discountCodeBasicCreate"]}
    with responses.RequestsMock() as rsps:
        shopify = Shopify(rsps, {
            "DiscountCodeBasicCreate": [shopify_graphql("discount_code_basic_create")],
            "DiscountCodeFreeShippingCreate": [free_shipping]})
        create_discount(client(), spec(kind="percentage", value=Decimal("15"),
                                       minimum_order=None))
        create_discount(client(), spec(kind="free_shipping", customer_platform_id=None))

    (percent,) = shopify.named("DiscountCodeBasicCreate")
    assert percent["basicCodeDiscount"]["customerGets"]["value"] == {"percentage": 0.15}
    assert percent["basicCodeDiscount"]["minimumRequirement"] is None
    (shipping,) = shopify.named("DiscountCodeFreeShippingCreate")
    discount = shipping["freeShippingCodeDiscount"]
    assert discount["destination"] == {"all": True} and "customerGets" not in discount
    assert discount["usageLimit"] == 1 and discount["appliesOncePerCustomer"] is True
    # a shopper without a Shopify account cannot be named: the code is open to any buyer
    assert discount["context"] == {"all": "ALL"}


def test_user_errors_are_a_refusal_in_shopifys_words():
    with responses.RequestsMock() as rsps:
        Shopify(rsps, {"DiscountCodeBasicCreate": [
            shopify_graphql("discount_code_user_errors")]})
        with pytest.raises(DiscountRefused) as refused:
            create_discount(client(), spec())
    assert "Customer does not exist" in refused.value.reason


def test_a_lost_answer_resent_as_taken_is_the_code_already_made():
    # given Shopify made the code but its answer was lost; the client sends it again
    with responses.RequestsMock() as rsps:
        shopify = Shopify(rsps, {
            "DiscountCodeBasicCreate": [requests.ConnectionError("connection reset"),
                                        shopify_graphql("discount_code_taken")],
            "DiscountByCode": [shopify_graphql("code_discount_node_by_code")]})
        made = create_discount(client(), spec())
    # then the code found by lookup is the answer, not a refusal
    assert made.platform_id == "gid://shopify/DiscountCodeNode/1057371242"
    assert shopify.named("DiscountByCode") == [{"code": "STICKY-7KQ2M9XW4H"}]


def test_throttled_then_made_creates_one_code():
    with responses.RequestsMock() as rsps:
        shopify = Shopify(rsps, {"DiscountCodeBasicCreate": [
            shopify_graphql("throttled"), shopify_graphql("discount_code_basic_create")]})
        made = create_discount(client(), spec())
    assert made.platform_id.endswith("/1057371242")
    assert len(shopify.named("DiscountCodeBasicCreate")) == 2  # the first was not run


def test_no_answer_at_all_is_an_unknown_outcome():
    with responses.RequestsMock() as rsps:
        Shopify(rsps, {"DiscountCodeBasicCreate": [502, 502, 502]})
        with pytest.raises(DiscountOutcomeUnknown):
            create_discount(client(), spec())


def test_find_by_code_says_whether_it_exists():
    with responses.RequestsMock() as rsps:
        Shopify(rsps, {"DiscountByCode": [shopify_graphql("code_discount_node_by_code"),
                                          {"data": {"codeDiscountNodeByCode": None}}]})
        assert find_discount(client(), "STICKY-7KQ2M9XW4H").platform_id.endswith("1057371242")
        assert find_discount(client(), "STICKY-NOTMADE000") is None
