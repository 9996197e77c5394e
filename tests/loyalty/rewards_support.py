"""Stand-ins for Shopify and WooCommerce at the HTTP edge, for the redemption and write-back
tests: they keep the discount codes they made (so a test can count creations), answer with
payloads shaped like the platforms' published examples, and can lose answers."""

from __future__ import annotations

import copy
import json
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from app.crypto import encrypt
from app.db import db
from app.loyalty import ledger
from app.loyalty.models import LoyaltyReward
from app.loyalty.program import save_program
from app.profiles.models import Customer
from app.shops.models import Shop
from tests.connectors.payloads import shopify_graphql, woo

SHOPIFY_ENDPOINT = "https://sticky-test.myshopify.com/admin/api/2026-10/graphql.json"
WOO_STORE = "https://woo.example"


def operation(body: dict) -> str:
    return body["query"].split("(")[0].split()[-1]


class FakeShopify:
    """The Admin GraphQL API as far as discount codes and the write-back go.

    `lose_answers`: Shopify acts on each request but the answer never arrives (a timeout).
    `down`: nothing arrives at Shopify at all. `refuse`: discount creation answers userErrors.
    """

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.codes: dict[str, str] = {}  # code (upper) -> node gid
        self.creations = 0
        self.requests: list[tuple[str, dict]] = []
        self.lose_answers = False
        self.down = False
        self.refuse = False
        self.delay = 0.0
        self.on_write: Any = None  # called with the variables of each write-back request
        self.write_errors: dict[int, str] = {}  # metafield index -> message
        self._lock = threading.Lock()
        rsps.add_callback(responses.POST, SHOPIFY_ENDPOINT, callback=self)

    def __call__(self, request):
        body = json.loads(request.body)
        name, variables = operation(body), body.get("variables") or {}
        with self._lock:
            self.requests.append((name, copy.deepcopy(variables)))
            if self.down:
                return 200, {}, requests.ConnectionError("connection refused")
            answer = self._answer(name, variables)
        if self.delay:
            time.sleep(self.delay)
        if self.lose_answers:
            return 200, {}, requests.ReadTimeout("read timed out")
        return 200, {}, json.dumps(answer)

    def _answer(self, name: str, variables: dict) -> dict:
        if name in ("DiscountCodeBasicCreate", "DiscountCodeFreeShippingCreate"):
            root = ("discountCodeBasicCreate" if name == "DiscountCodeBasicCreate"
                    else "discountCodeFreeShippingCreate")
            discount = next(iter(variables.values()))
            if self.refuse:
                answer = shopify_graphql("discount_code_user_errors")
            elif discount["code"].upper() in self.codes:
                answer = shopify_graphql("discount_code_taken")
            else:
                self.creations += 1
                gid = f"gid://shopify/DiscountCodeNode/{1057371242 + self.creations}"
                self.codes[discount["code"].upper()] = gid
                answer = shopify_graphql("discount_code_basic_create")
                node = answer["data"]["discountCodeBasicCreate"]["codeDiscountNode"]
                node["id"] = gid
                node["codeDiscount"]["codes"]["nodes"][0]["code"] = discount["code"]
            answer["data"] = {root: answer["data"]["discountCodeBasicCreate"]}
            return answer
        if name == "DiscountByCode":
            gid = self.codes.get(variables["code"].upper())
            answer = shopify_graphql("code_discount_node_by_code")
            answer["data"]["codeDiscountNodeByCode"] = {"id": gid} if gid else None
            return answer
        if name == "StickyWriteBack":
            if self.on_write is not None:
                self.on_write(variables)
            answer = shopify_graphql("metafields_set")
            answer["data"]["metafieldsSet"]["userErrors"] = [
                {"field": ["metafields", str(i), "ownerId"], "message": message,
                 "code": "INVALID"} for i, message in self.write_errors.items()]
            for alias in variables:
                if alias.startswith(("add", "rm")):
                    answer["data"][alias] = {"node": {"id": variables["c" + alias.lstrip(
                        "adrm")]}, "userErrors": []}
            return answer
        raise AssertionError(f"unexpected operation {name}")

    def named(self, name: str) -> list[dict]:
        return [variables for op, variables in self.requests if op == name]

    def discounts_sent(self) -> list[dict]:
        """The `DiscountCodeBasicInput` of every creation requested, in order."""
        return [variables["basicCodeDiscount"]
                for variables in self.named("DiscountCodeBasicCreate")]


class FakeWoo:
    """WooCommerce's coupons and customers/batch endpoints."""

    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.coupons: dict[str, int] = {}
        self.bodies: list[dict] = []
        self.batches: list[dict] = []
        self.lose_answers = False
        self.refuse = False
        base = f"{WOO_STORE}/wp-json/wc/v3"
        rsps.add_callback(responses.POST, f"{base}/coupons", callback=self.create)
        rsps.add_callback(responses.GET, f"{base}/coupons", callback=self.find)
        rsps.add_callback(responses.PUT, f"{base}/customers/batch", callback=self.batch)

    def create(self, request):
        body = json.loads(request.body)
        self.bodies.append(body)
        if self.refuse:
            return 400, {}, json.dumps({"code": "rest_invalid_param",
                                        "message": "Invalid parameter(s): email_restrictions",
                                        "data": {"status": 400}})
        code = body["code"].lower()
        if code in self.coupons:
            return 400, {}, json.dumps(woo("coupon_code_exists"))
        self.coupons[code] = 719 + len(self.coupons)
        if self.lose_answers:
            return 200, {}, requests.ReadTimeout("read timed out")
        return 201, {}, json.dumps(woo("coupon") | {"id": self.coupons[code], "code": code})

    def find(self, request):
        code = parse_qs(urlsplit(request.url).query)["code"][0].lower()
        found = [woo("coupon") | {"id": self.coupons[code], "code": code}] \
            if code in self.coupons else []
        return 200, {}, json.dumps(found)

    def batch(self, request):
        body = json.loads(request.body)
        self.batches.append(body)
        answer = woo("customers_batch_update")
        template = answer["update"][0]
        answer["update"] = [template | {"id": item["id"], "meta_data": item["meta_data"]}
                            for item in body["update"]]
        return 200, {}, json.dumps(answer)

    @property
    def creations(self) -> int:
        return len(self.coupons)


def enable_program(shop: Shop, **settings: Any) -> None:
    save_program(db.session, shop.id, {"enabled": True, **settings})
    db.session.commit()


def member(shop: Shop, points: int, *, platform_id: str | None = "207119551",
           email: str = "bob@example.com") -> Customer:
    customer = Customer(shop_id=shop.id, platform_customer_id=platform_id, email=email,
                        email_normalized=email)
    db.session.add(customer)
    db.session.flush()
    if points:
        ledger.append(db.session, shop.id, ledger.NewEntry(
            customer_id=customer.id, kind="earn", points=points, reason="Order #1001",
            source="order", key=f"order:{customer.id}:purchase"))
    else:
        ledger.ensure_member(db.session, shop.id, customer.id)
    db.session.commit()
    return customer


def reward(shop: Shop, **changes: Any) -> LoyaltyReward:
    values = {"name": "$10 off", "kind": "fixed_amount", "value": Decimal("10"),
              "points_cost": 300, "minimum_order": Decimal("50"), "expires_after_days": 30}
    row = LoyaltyReward(shop_id=shop.id, **{**values, **changes})
    db.session.add(row)
    db.session.commit()
    return row


def woo_shop() -> Shop:
    shop = Shop(platform="woocommerce", domain="woo.example", currency="USD",
                api_base_url=WOO_STORE, consumer_key_encrypted=encrypt("ck_test"),
                consumer_secret_encrypted=encrypt("cs_test"))
    db.session.add(shop)
    db.session.commit()
    return shop
