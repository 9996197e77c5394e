"""What the simulator's deliveries look like: Shopify's published samples, filled in.

Each payload starts from Shopify's sample for its topic (tests/fixtures/shopify) and is
rewritten for one simulated shopper, basket or order, so what the app receives is shaped like
what Shopify sends. `ShopifyPayloads` builds them; `Simulator` (app/demo/simulator.py) decides
what happens when.
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from app.demo.store import (
    DEMO_CURRENCY,
    DEMO_DOMAIN,
    FIXTURES,
    TAX_RATE,
    Basket,
    DemoError,
    money,
    recovery_url,
)


@cache
def _fixture_text(topic: str) -> str:
    path = FIXTURES / (topic.replace("/", "__") + ".json")
    try:
        return path.read_text()
    except FileNotFoundError as exc:
        raise DemoError(f"the Shopify sample payloads are missing ({path}); run the demo from "
                        "a checkout of the repository") from exc


def fixture(topic: str) -> dict[str, Any]:
    """A fresh copy of Shopify's published sample payload for `topic`."""
    return copy.deepcopy(json.loads(_fixture_text(topic)))


def money_set(amount: Decimal | str) -> dict[str, Any]:
    """A Shopify MoneyBag (`*_set`) in the demo's one currency."""
    value = str(amount)
    return {"shop_money": {"amount": value, "currency_code": DEMO_CURRENCY},
            "presentment_money": {"amount": value, "currency_code": DEMO_CURRENCY}}


def shopify_time(when: datetime) -> str:
    """A timestamp as Shopify's REST payloads write it."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class SimCustomer:
    id: int | None  # None: a guest
    email: str
    first_name: str
    last_name: str
    city: str = "Portland"
    country_code: str = "US"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    subscribed: bool = False


@dataclass
class SimOrder:
    id: int
    number: int
    customer: SimCustomer
    basket: Basket
    placed_at: datetime
    checkout_token: str | None
    cart_token: str | None
    line_ids: list[int]
    financial_status: str = "pending"
    fulfilled: bool = False
    cancelled_at: datetime | None = None
    refunded: Decimal = Decimal("0")


class ShopifyPayloads:
    """Builds Shopify webhook payloads for simulated shoppers and orders.

    Shares the simulator's random source, fake-data generator and clock, so one seed gives
    one stream. Ids are like Shopify's: above 2**53, unique across runs, sent as JSON ints.
    Building a refund or cancellation payload also records it on the `SimOrder`.
    """

    def __init__(self, rng: random.Random, fake: Any, clock: Callable[[], datetime]) -> None:
        self.rng = rng
        self.fake = fake
        self.clock = clock
        self._next_id = time.time_ns() // 1000 * 1000

    def new_id(self) -> int:
        self._next_id += self.rng.randint(1, 997)
        return self._next_id

    def customer_payload(self, person: SimCustomer) -> dict[str, Any]:
        p = fixture("customers/create")
        now = shopify_time(self.clock())
        assert person.id is not None
        p.update(id=person.id, email=person.email, first_name=person.first_name,
                 last_name=person.last_name, created_at=shopify_time(person.created_at),
                 updated_at=now,
                 state="enabled", note=None, verified_email=True, phone=None,
                 admin_graphql_api_id=f"gid://shopify/Customer/{person.id}")
        p["default_address"] = self._address(p["default_address"], person)
        return p

    def _address(self, template: dict[str, Any], person: SimCustomer) -> dict[str, Any]:
        address = dict(template)
        address.update(first_name=person.first_name, last_name=person.last_name,
                       name=f"{person.first_name} {person.last_name}", company=None,
                       address1=self.fake.street_address(), city=person.city,
                       province="Oregon", province_code="OR", zip=self.fake.zipcode(),
                       country="United States", country_code=person.country_code,
                       phone=None)
        if "country_name" in address:
            address["country_name"] = "United States"
        if "customer_id" in address:
            address["customer_id"] = person.id
            address["id"] = self.new_id()
        return address

    def _embedded_customer(self, template: dict[str, Any] | None,
                           person: SimCustomer) -> dict[str, Any] | None:
        if person.id is None:
            return None
        c = copy.deepcopy(template) if template else fixture("customers/create")
        c.update(id=person.id, email=person.email, first_name=person.first_name,
                 last_name=person.last_name, created_at=shopify_time(person.created_at),
                 updated_at=None,
                 state="enabled", admin_graphql_api_id=f"gid://shopify/Customer/{person.id}")
        if isinstance(c.get("default_address"), dict):
            c["default_address"] = self._address(c["default_address"], person)
        return c

    def consent_payload(self, person: SimCustomer, state: str | None = None) -> dict[str, Any]:
        if state is None:
            state = self.rng.choice(("unsubscribed", "not_subscribed")) if person.subscribed \
                else "subscribed"
        person.subscribed = state == "subscribed"
        p = fixture("customers_email_marketing_consent/update")
        p.update(customer_id=person.id, email_address=person.email)
        p["email_marketing_consent"] = {
            "state": state,
            "opt_in_level": "single_opt_in" if state == "subscribed" else None,
            "consent_updated_at": shopify_time(self.clock()),
        }
        return p

    def checkout_payload(self, token: str, cart_token: str | None, person: SimCustomer,
                         basket: Basket, created: datetime, *, email: str | None,
                         completed: bool = False) -> dict[str, Any]:
        p = fixture("checkouts/create")
        template = p["line_items"][0]
        lines = []
        for product, qty in basket.lines:
            line = copy.deepcopy(template)
            line.update(key=uuid.uuid4().hex, product_id=product.product_id,
                        variant_id=product.variant_id, sku=product.sku, title=product.title,
                        presentment_title=product.title, variant_title=product.variant_title,
                        presentment_variant_title=product.variant_title, vendor="Sticky Demo",
                        quantity=qty, price=str(product.price),
                        variant_price=str(product.price),
                        line_price=str(product.price * qty), tax_lines=[])
            lines.append(line)
        now = self.clock()
        p.update(
            token=token, cart_token=cart_token, email=email, created_at=shopify_time(created),
            updated_at=shopify_time(now), completed_at=shopify_time(now) if completed else None,
            name=f"#{self.new_id()}", line_items=lines, currency=DEMO_CURRENCY,
            presentment_currency=DEMO_CURRENCY, buyer_accepts_marketing=person.subscribed,
            total_line_items_price=str(basket.line_total),
            total_discounts=str(basket.discount), subtotal_price=str(basket.subtotal),
            total_tax=str(basket.tax), total_price=str(basket.total),
            tax_lines=[{"price": str(basket.tax), "rate": float(TAX_RATE), "title": "Tax",
                        "channel_liable": False}],
            discount_codes=([{"code": basket.discount_code, "amount": str(basket.discount),
                              "type": "percentage"}] if basket.discount_code else []),
            abandoned_checkout_url=recovery_url(token),
            customer=self._embedded_customer(p.get("customer"), person),
        )
        for key in ("billing_address", "shipping_address"):
            if isinstance(p.get(key), dict):
                p[key] = self._address(p[key], person)
        return p

    def order_payload(self, order: SimOrder) -> dict[str, Any]:
        p = fixture("orders/create")
        basket, person = order.basket, order.customer
        template = p["line_items"][0]
        lines = []
        share = basket.discount / basket.line_total if basket.line_total else Decimal("0")
        for line_id, (product, qty) in zip(order.line_ids, basket.lines, strict=True):
            line = copy.deepcopy(template)
            discount = money(product.price * qty * share)
            line.update(
                id=line_id, admin_graphql_api_id=f"gid://shopify/LineItem/{line_id}",
                attributed_staffs=[], current_quantity=qty,
                fulfillable_quantity=0 if order.fulfilled else qty,
                fulfillment_status="fulfilled" if order.fulfilled else None,
                name=f"{product.title} - {product.variant_title}" if product.variant_title
                else product.title,
                title=product.title, variant_title=product.variant_title, vendor="Sticky Demo",
                price=str(product.price), price_set=money_set(product.price),
                product_id=product.product_id, variant_id=product.variant_id, sku=product.sku,
                quantity=qty, total_discount=str(discount),
                total_discount_set=money_set(discount), discount_allocations=[],
                tax_lines=[], duties=[],
            )
            lines.append(line)
        now = self.clock()
        cancelled = order.cancelled_at is not None
        financial = "voided" if cancelled else order.financial_status
        total, outstanding = basket.total, (basket.total if financial == "pending" else
                                            Decimal("0.00"))
        current_total = Decimal("0.00") if cancelled else total - order.refunded
        shipping = p["shipping_lines"][0] if p.get("shipping_lines") else None
        if shipping is not None:
            shipping.update(id=self.new_id(), price=str(basket.shipping),
                            price_set=money_set(basket.shipping),
                            discounted_price=str(basket.shipping),
                            discounted_price_set=money_set(basket.shipping),
                            current_discounted_price_set=money_set(basket.shipping),
                            title="Standard" if basket.shipping else "Free shipping")
        email = person.email
        p.update(
            id=order.id, admin_graphql_api_id=f"gid://shopify/Order/{order.id}",
            name=f"#{order.number}", number=order.number - 1000, order_number=order.number,
            token=uuid.uuid5(uuid.NAMESPACE_OID, str(order.id)).hex,
            confirmation_number=f"{order.id % 10**9:09d}"[:9].upper(), confirmed=True,
            email=email, contact_email=email, phone=None,
            created_at=shopify_time(order.placed_at), processed_at=shopify_time(order.placed_at),
            updated_at=shopify_time(now), closed_at=None,
            cancelled_at=shopify_time(order.cancelled_at) if cancelled else None,
            cancel_reason="customer" if cancelled else None,
            financial_status=financial,
            fulfillment_status="fulfilled" if order.fulfilled else None,
            test=False, buyer_accepts_marketing=person.subscribed,
            checkout_token=order.checkout_token, cart_token=order.cart_token,
            currency=DEMO_CURRENCY, presentment_currency=DEMO_CURRENCY,
            source_name="web", landing_site="/", tags="",
            order_status_url=f"https://{DEMO_DOMAIN}/72119206142/orders/"
                             f"{order.id}/authenticate?key={uuid.uuid4().hex}",
            discount_codes=([{"code": basket.discount_code, "amount": str(basket.discount),
                              "type": "percentage"}] if basket.discount_code else []),
            subtotal_price=str(basket.subtotal), subtotal_price_set=money_set(basket.subtotal),
            total_line_items_price=str(basket.line_total),
            total_line_items_price_set=money_set(basket.line_total),
            total_discounts=str(basket.discount),
            total_discounts_set=money_set(basket.discount),
            total_tax=str(basket.tax), total_tax_set=money_set(basket.tax),
            total_price=str(total), total_price_set=money_set(total),
            total_shipping_price_set=money_set(basket.shipping),
            total_outstanding=str(outstanding),
            current_subtotal_price=str(basket.subtotal),
            current_subtotal_price_set=money_set(basket.subtotal),
            current_total_discounts=str(basket.discount),
            current_total_discounts_set=money_set(basket.discount),
            current_total_tax=str(basket.tax), current_total_tax_set=money_set(basket.tax),
            current_total_price=str(current_total),
            current_total_price_set=money_set(current_total),
            current_shipping_price_set=money_set(basket.shipping),
            line_items=lines, refunds=[], fulfillments=[], returns=[],
            customer=self._embedded_customer(p.get("customer"), person),
        )
        for key in ("billing_address", "shipping_address"):
            if isinstance(p.get(key), dict):
                p[key] = self._address(p[key], person)
        return p

    def cancel_payload(self, order: SimOrder) -> dict[str, Any]:
        order.cancelled_at = self.clock()
        return self.order_payload(order)

    def refund_payload(self, order: SimOrder) -> dict[str, Any]:
        idx = self.rng.randrange(len(order.basket.lines))
        product, qty = order.basket.lines[idx]
        remaining = order.basket.total - order.refunded
        share = (order.basket.discount / order.basket.line_total if order.basket.line_total
                 else Decimal("0"))
        subtotal = money(product.price * qty * (1 - share))
        tax = money(subtotal * TAX_RATE)
        if subtotal + tax > remaining:
            subtotal, tax = remaining, Decimal("0.00")
        order.refunded += subtotal + tax
        order.financial_status = ("refunded" if order.refunded >= order.basket.total
                                  else "partially_refunded")
        p = fixture("refunds/create")
        refund_id = self.new_id()
        now = shopify_time(self.clock())
        item = p["refund_line_items"][0]
        item.update(id=self.new_id(), quantity=qty, line_item_id=order.line_ids[idx],
                    subtotal=float(subtotal), total_tax=float(tax),
                    subtotal_set=money_set(subtotal), total_tax_set=money_set(tax))
        if isinstance(item.get("line_item"), dict):
            item["line_item"].update(
                id=order.line_ids[idx], title=product.title, name=product.title,
                variant_title=product.variant_title, sku=product.sku, quantity=qty,
                product_id=product.product_id, variant_id=product.variant_id,
                price=str(product.price), price_set=money_set(product.price),
                admin_graphql_api_id=f"gid://shopify/LineItem/{order.line_ids[idx]}")
        tx = p["transactions"][0] if p.get("transactions") else None
        if tx is not None:
            tx.update(id=self.new_id(), order_id=order.id, amount=str(subtotal + tax),
                      currency=DEMO_CURRENCY, created_at=now, processed_at=now, message=None,
                      payment_id=f"#{order.number}.1",
                      admin_graphql_api_id=f"gid://shopify/OrderTransaction/{tx['id']}")
            tx["total_unsettled_set"] = money_set("0.00")
        p.update(id=refund_id, order_id=order.id, created_at=now, processed_at=now,
                 note=self.rng.choice(("Wrong size", "Damaged in transit", "Changed mind", None)),
                 admin_graphql_api_id=f"gid://shopify/Refund/{refund_id}",
                 refund_line_items=[item], refund_shipping_lines=[], order_adjustments=[],
                 transactions=[tx] if tx else [], total_duties_set=money_set("0.00"))
        return p
