"""Single-use WooCommerce coupons from plain values (WooCommerce stubbed at the HTTP edge)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import responses

from connectors.discounts import DiscountOutcomeUnknown, DiscountRefused, DiscountSpec
from connectors.http import HttpClient
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.coupons import create_coupon, find_coupon
from tests.connectors.payloads import woo

STORE = "https://woo.example"
COUPONS = f"{STORE}/wp-json/wc/v3/coupons"


def spec(**changes) -> DiscountSpec:
    values = {"code": "STICKY-7KQ2M9XW4H", "title": "Sticky reward: $10 off",
              "kind": "fixed_amount", "value": Decimal("10"), "minimum_order": Decimal("50"),
              "starts_at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
              "ends_at": datetime(2026, 12, 20, 9, 30, tzinfo=UTC),
              "customer_platform_id": "25", "email": "john.doe@example.com"}
    return DiscountSpec(**{**values, **changes})


def client() -> WooClient:
    return WooClient(STORE, "ck_plain", "cs_plain", http=HttpClient(sleep=lambda _s: None))


def test_a_coupon_is_single_use_and_restricted_to_the_shoppers_email():
    made = woo("coupon")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, COUPONS, json=made, status=201)
        result = create_coupon(client(), spec())
        body = json.loads(rsps.calls[0].request.body)

    assert result.platform_id == "719"
    assert body["code"] == "STICKY-7KQ2M9XW4H"
    assert (body["discount_type"], body["amount"]) == ("fixed_cart", "10.00")
    assert body["usage_limit"] == 1 and body["usage_limit_per_user"] == 1
    assert body["email_restrictions"] == ["john.doe@example.com"]
    assert body["individual_use"] is True and body["free_shipping"] is False
    assert body["minimum_amount"] == "50.00"
    assert body["date_expires"] == "2026-12-20T09:30:00+00:00"


def test_percent_and_free_shipping_coupons():
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, COUPONS, json=woo("coupon"), status=201)
        rsps.add(responses.POST, COUPONS, json=woo("coupon"), status=201)
        create_coupon(client(), spec(kind="percentage", value=Decimal("15"),
                                     minimum_order=None, ends_at=None))
        create_coupon(client(), spec(kind="free_shipping", value=Decimal("0")))
        percent, shipping = (json.loads(call.request.body) for call in rsps.calls)

    assert (percent["discount_type"], percent["amount"]) == ("percent", "15")
    assert "minimum_amount" not in percent and "date_expires" not in percent
    assert (shipping["discount_type"], shipping["amount"], shipping["free_shipping"]) == (
        "fixed_cart", "0", True)
    assert shipping["usage_limit"] == 1 and shipping["usage_limit_per_user"] == 1


def test_a_code_that_exists_is_looked_up_and_adopted():
    existing = woo("coupon") | {"code": "sticky-7kq2m9xw4h"}  # WooCommerce lowercases codes
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, COUPONS, json=woo("coupon_code_exists"), status=400)
        rsps.add(responses.GET, COUPONS, json=[existing])
        result = create_coupon(client(), spec())
        lookup = rsps.calls[1].request
    assert result.platform_id == "719"
    assert "code=STICKY-7KQ2M9XW4H" in lookup.url


def test_another_client_error_is_a_refusal_and_a_timeout_is_unknown():
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, COUPONS, status=400, json={
            "code": "rest_invalid_param", "message": "Invalid parameter(s): discount_type",
            "data": {"status": 400}})
        with pytest.raises(DiscountRefused) as refused:
            create_coupon(client(), spec())
        assert "Invalid parameter(s): discount_type" in refused.value.reason

    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, COUPONS, body=requests.ReadTimeout("read timed out"))
        with pytest.raises(DiscountOutcomeUnknown):
            create_coupon(client(), spec())
        assert len(rsps.calls) == 1  # a POST is never resent blindly


def test_find_coupon_matches_the_code_whatever_its_case():
    with responses.RequestsMock() as rsps:
        rsps.add(responses.GET, COUPONS, json=[woo("coupon") | {"code": "sticky-7kq2m9xw4h"}])
        rsps.add(responses.GET, COUPONS, json=[])
        assert find_coupon(client(), "STICKY-7KQ2M9XW4H").platform_id == "719"
        assert find_coupon(client(), "STICKY-NOTMADE000") is None
