"""The store simulator: the demo store's live stream of signed Shopify webhooks.

New customers, checkouts, orders, payments, fulfilments, refunds, cancellations and consent
changes, each a follow-up of an earlier event where Shopify's would be (an order after its
checkout, the fulfilment after the payment), and the odd redelivery of a recent one. What
each delivery looks like is app/demo/payloads.py; sending them is the runner's job.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.db import db
from app.demo.payloads import ShopifyPayloads, SimCustomer, SimOrder, shopify_time
from app.demo.store import DEMO_DOMAIN, EMAIL_DOMAINS, Basket, random_basket
from connectors.shopify.signatures import webhook_hmac

REDELIVERY_RATE = 0.03

# Simulated topics, in the order a test expects to see them.
SIM_TOPICS = (
    "customers/create",
    "checkouts/create",
    "checkouts/update",
    "orders/create",
    "orders/paid",
    "orders/fulfilled",
    "refunds/create",
    "orders/cancelled",
    "customers_email_marketing_consent/update",
)


@dataclass
class Delivery:
    """One webhook delivery, as Shopify would send it: the topic, the raw body, its id."""

    topic: str
    body: bytes
    webhook_id: str
    redelivery: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    def headers(self, secret: str, shop_domain: str = DEMO_DOMAIN,
                api_version: str = "2026-10") -> dict[str, str]:
        """Shopify's webhook headers, signed with the app's `secret` over the raw body."""
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-Hmac-Sha256": webhook_hmac(secret, self.body),
            "X-Shopify-Webhook-Id": self.webhook_id,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Triggered-At": shopify_time(datetime.now(UTC)),
        }


class Simulator:
    """Builds the next realistic webhook delivery of a busy Shopify store.

    Time is counted in deliveries ("ticks"): a follow-up (an order after its checkout, the
    fulfilment after the payment) is scheduled a number of ticks ahead, so at `rate`
    deliveries a second `seconds * rate` ticks is `seconds` of wall time.
    """

    def __init__(self, *, known_customers: list[SimCustomer] | None = None, seed: int | None = None,
                 rate: float = 2.0, clock: Callable[[], datetime] | None = None,
                 first_order_number: int = 50_001) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        from faker import Faker

        self.fake = Faker("en_US")
        self.fake.seed_instance(seed if seed is not None else self.rng.getrandbits(32))
        self.rate = rate
        self.clock = clock or (lambda: datetime.now(UTC))
        self.customers: list[SimCustomer] = list(known_customers or [])
        self.orders: deque[SimOrder] = deque(maxlen=400)
        self._tick = 0
        self._followups: list[tuple[int, int, str, Callable[[], dict[str, Any] | None]]] = []
        self._seq = 0
        self._recent: deque[Delivery] = deque(maxlen=50)
        self.payloads = ShopifyPayloads(self.rng, self.fake, self.clock)
        self._order_number = first_order_number

    # ids and time
    def new_id(self) -> int:
        return self.payloads.new_id()

    def _later(self, seconds: float, topic: str,
               build: Callable[[], dict[str, Any] | None]) -> None:
        self._seq += 1
        due = self._tick + max(1, round(seconds * self.rate))
        heapq.heappush(self._followups, (due, self._seq, topic, build))

    # the stream
    def next_delivery(self) -> Delivery:
        self._tick += 1
        if self._recent and self.rng.random() < REDELIVERY_RATE:
            return dataclasses.replace(self.rng.choice(self._recent), redelivery=True)
        payload = None
        while payload is None and self._followups and self._followups[0][0] <= self._tick:
            _, _, topic, build = heapq.heappop(self._followups)
            payload = build()  # None: overtaken by events (e.g. the order was cancelled)
        if payload is None:
            topic, payload = self._new_activity()
        delivery = Delivery(topic, json.dumps(payload).encode(), str(uuid.uuid4()))
        self._recent.append(delivery)
        return delivery

    def deliveries(self) -> Iterator[Delivery]:
        while True:
            yield self.next_delivery()

    def _new_activity(self) -> tuple[str, dict[str, Any]]:
        paid = [o for o in self.orders if o.financial_status in ("paid", "partially_refunded")
                and o.cancelled_at is None]
        registered = [c for c in self.customers if c.id is not None]
        choices = ["signup", "checkout", "guest_checkout"]
        weights = [14, 52, 10]
        if registered:
            choices.append("consent")
            weights.append(9)
        if paid:
            choices += ["refund", "cancel"]
            weights += [9, 4]
        action = self.rng.choices(choices, weights=weights)[0]
        if action == "signup":
            return "customers/create", self._signup()
        if action == "consent":
            return ("customers_email_marketing_consent/update",
                    self.payloads.consent_payload(self.rng.choice(registered)))
        if action == "refund":
            order = self.rng.choice(paid)
            return "refunds/create", self.payloads.refund_payload(order)
        if action == "cancel":
            unfulfilled = [o for o in paid if not o.fulfilled and o.refunded == 0]
            if unfulfilled:
                order = self.rng.choice(unfulfilled)
                return "orders/cancelled", self.payloads.cancel_payload(order)
            return "refunds/create", self.payloads.refund_payload(self.rng.choice(paid))
        guest = action == "guest_checkout" or not registered
        if guest or self.rng.random() < 0.3:
            shopper = self._make_person(guest=guest)
        else:
            shopper = self.rng.choice(registered)
        return "checkouts/create", self._start_checkout(shopper)

    # people
    def _make_person(self, *, guest: bool) -> SimCustomer:
        first, last = self.fake.first_name(), self.fake.last_name()
        email = (f"{first}.{last}.{self.rng.randint(100, 99999)}@"
                 f"{self.rng.choice(EMAIL_DOMAINS)}").lower().replace("'", "")
        person = SimCustomer(None if guest else self.new_id(), email, first, last,
                             self.fake.city(), "US", self.clock())
        self.customers.append(person)
        return person

    def _signup(self) -> dict[str, Any]:
        person = self._make_person(guest=False)
        payload = self.payloads.customer_payload(person)
        if self.rng.random() < 0.5:
            self._later(self.rng.uniform(1, 4), "customers_email_marketing_consent/update",
                        lambda: self.payloads.consent_payload(person, "subscribed"))
        return payload

    # checkouts
    def _start_checkout(self, person: SimCustomer) -> dict[str, Any]:
        token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        cart_token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        basket = random_basket(self.rng)
        created = self.clock()
        state = {"email": person.email if self.rng.random() < 0.6 else None}

        def checkout(completed: bool = False) -> dict[str, Any]:
            return self.payloads.checkout_payload(token, cart_token, person, basket, created,
                                         email=state["email"], completed=completed)

        def update() -> dict[str, Any]:
            state["email"] = person.email  # the shopper typed their email at the contact step
            return checkout()

        self._later(self.rng.uniform(3, 12), "checkouts/update", update)
        if self.rng.random() < 0.65:
            order_after = self.rng.uniform(15, 40)
            self._later(order_after, "orders/create",
                        lambda: self._place_order(person, basket, token, cart_token))
        return checkout()

    # orders
    def _place_order(self, person: SimCustomer, basket: Basket, checkout_token: str | None,
                     cart_token: str | None) -> dict[str, Any]:
        self._order_number += 1
        order = SimOrder(self.new_id(), self._order_number, person, basket, self.clock(),
                         checkout_token, cart_token, [self.new_id() for _ in basket.lines])
        order.financial_status = "paid" if self.rng.random() < 0.5 else "pending"
        self.orders.append(order)
        def pay() -> dict[str, Any] | None:
            if order.cancelled_at is not None:
                return None
            if order.financial_status == "pending":
                order.financial_status = "paid"
            return self.payloads.order_payload(order)

        self._later(self.rng.uniform(1, 5), "orders/paid", pay)
        if self.rng.random() < 0.6:
            def fulfil() -> dict[str, Any] | None:
                if order.cancelled_at is not None:
                    return None
                order.fulfilled = True
                return self.payloads.order_payload(order)

            self._later(self.rng.uniform(30, 90), "orders/fulfilled", fulfil)
        return self.payloads.order_payload(order)


def load_sim_customers(shop_id: int, limit: int = 3000) -> list[SimCustomer]:
    """The demo store's newest registered customers, for the simulator to bring back."""
    from app.profiles.models import Customer

    with db.new_session() as s:
        rows = s.execute(
            select(Customer.platform_customer_id, Customer.email, Customer.first_name,
                   Customer.last_name, Customer.city, Customer.country_code,
                   Customer.platform_created_at, Customer.email_marketing)
            .where(Customer.shop_id == shop_id, Customer.platform_customer_id.is_not(None),
                   Customer.email.is_not(None), Customer.deleted_at.is_(None))
            .order_by(Customer.id.desc()).limit(limit)
        ).all()
    return [
        SimCustomer(int(r[0]), r[1], r[2] or "", r[3] or "", r[4] or "Portland", r[5] or "US",
                    r[6] or datetime.now(UTC), r[7] == "subscribed")
        for r in rows if str(r[0]).isdigit()
    ]
