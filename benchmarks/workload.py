"""The ingest benchmark's deliveries: signed, unique, in a realistic mix, with redeliveries.

Payloads are the platforms' published samples varied by `benchmarks/payloads`. Each delivery
records the mirror rows it implies (`facts`: an order id, a customer id, a guest's email, ...),
so whatever subset a time-boxed run gets through, the rows the mirror should hold afterwards
can be counted from the deliveries that were stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from benchmarks.payloads import shopify as shopify_payloads
from benchmarks.payloads import woocommerce as woo_payloads

# (topic, share of the unique deliveries)
SHOPIFY_MIX = (
    ("orders/create", 0.50),
    ("orders/paid", 0.15),
    ("customers/create", 0.10),
    ("checkouts/create", 0.10),
    ("refunds/create", 0.05),
    ("orders/updated", 0.05),
    ("customers/update", 0.05),
)
WOO_MIX = (
    ("order.created", 0.50),
    ("order.updated", 0.25),
    ("customer.created", 0.15),
    ("customer.updated", 0.05),
    ("sticky_cart.updated", 0.05),
)
DUPLICATE_SHARE = 0.02
WOO_STORE_URL = "https://woo-bench.example"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen"]

Fact = tuple[str, str]  # ("order" | "customer" | "email" | "refund" | "checkout" | "cart", id)


@dataclass
class Delivery:
    topic: str
    key: str                 # the inbox delivery key the receiver will store it under
    body: bytes
    headers: dict[str, str]
    facts: tuple[Fact, ...] = ()
    duplicate: bool = False  # a redelivery of an earlier delivery (same key and bytes)


@dataclass
class Workload:
    deliveries: list[Delivery]
    topics: Counter = field(default_factory=Counter)

    @property
    def unique_keys(self) -> set[str]:
        return {d.key for d in self.deliveries if not d.duplicate}


def expected_rows(deliveries: Iterable[Delivery]) -> Counter:
    """Mirror rows of each kind that these deliveries imply (distinct facts)."""
    facts = {fact for d in deliveries for fact in d.facts}
    return Counter(kind for kind, _ in facts)


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _with_redeliveries(unique: list[Delivery], rng: random.Random) -> list[Delivery]:
    """~2% of the deliveries sent again a little later (64 to 1,000 places on, as a platform
    retries within seconds): the same key and bytes. Spread evenly, so any prefix of the list,
    which is what a time-boxed run sends, holds its share of them."""
    n = len(unique)
    deliveries = list(unique)
    gap = max(1, min(64, n // 4))
    inserts = []
    for _ in range(round(n * DUPLICATE_SHARE)):
        original = rng.randrange(0, max(1, n - gap))
        d = unique[original]
        position = min(n, original + rng.randrange(gap, gap + 1000))
        inserts.append((position,
                        Delivery(d.topic, d.key, d.body, d.headers, d.facts, duplicate=True)))
    for position, dup in sorted(inserts, key=lambda x: x[0], reverse=True):
        deliveries.insert(position, dup)
    return deliveries


# --------------------------------------------------------------------------- Shopify

def shopify_deliveries(n: int, *, secret: str, domain: str, seed: int = 7) -> Workload:
    """N unique signed Shopify deliveries in SHOPIFY_MIX, plus ~2% redeliveries.

    Follow-up topics (paid, updated, refund, customer update) refer to an order or customer
    an earlier delivery created, with a newer updated_at.
    """
    p = shopify_payloads
    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    topics = [t for t, _ in SHOPIFY_MIX]
    weights = [w for _, w in SHOPIFY_MIX]
    customers: list[dict] = []  # customer payloads already announced
    orders: list[dict] = []     # order state: id, customer, total, placed, token
    unique: list[Delivery] = []
    counts: Counter = Counter()
    clock = 0.0  # minutes after payloads.shopify.BASE_TIME

    def new_customer(updated: float) -> dict:
        return p.customer_payload(
            email=f"shopper{len(customers) + 1}@example.com", first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES), updated=updated)

    def emit(topic: str, payload: dict, *facts: Fact) -> None:
        body = json.dumps(payload).encode()
        webhook_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": domain,
            "X-Shopify-Hmac-Sha256": sign(body, secret),
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Triggered-At": "2026-03-01T12:00:00Z",
        }
        unique.append(Delivery(topic, webhook_id, body, headers, facts))
        counts[topic] += 1

    def buyer_fact(buyer: dict | None, email: str) -> Fact:
        return ("customer", str(buyer["id"])) if buyer else ("email", email)

    def order_delivery(topic: str, order: dict, financial_status: str, **extra) -> None:
        buyer = order["customer"]
        email = (buyer or {}).get("email") or "guest@example.com"
        payload = p.order_payload(
            order_id=order["id"], customer=buyer, email=email, total=order["total"],
            quantity=order["quantity"], placed=order["placed"], updated=clock,
            financial_status=financial_status, checkout_token=order["token"], **extra)
        emit(topic, payload, ("order", str(order["id"])), buyer_fact(buyer, email))

    while len(unique) < n:
        clock += 0.5
        topic = rng.choices(topics, weights)[0]
        if topic in ("orders/paid", "orders/updated", "refunds/create") and not orders:
            topic = "orders/create"
        if topic == "customers/update" and not customers:
            topic = "customers/create"

        if topic == "customers/create":
            payload = new_customer(clock)
            customers.append(payload)
            emit(topic, payload, ("customer", str(payload["id"])))
        elif topic == "customers/update":
            payload = dict(rng.choice(customers))
            payload.update(updated_at=p.ts(clock), tags=rng.choice(["", "vip", "wholesale"]),
                           last_name=rng.choice(LAST_NAMES))
            emit(topic, payload, ("customer", str(payload["id"])))
        elif topic == "orders/create":
            if customers and rng.random() < 0.7:
                buyer = rng.choice(customers)
            elif rng.random() < 0.9:
                buyer = new_customer(clock)
                customers.append(buyer)
            else:
                buyer = None  # guest checkout
            order = {"id": p.next_id(), "customer": buyer,
                     "total": f"{rng.randint(15, 400)}.{rng.randint(0, 99):02d}",
                     "placed": clock, "quantity": rng.randint(1, 3),
                     "token": uuid.UUID(int=rng.getrandbits(128)).hex}
            orders.append(order)
            order_delivery(topic, order, "pending")  # orders/paid later moves it to paid
        elif topic == "orders/paid":
            order_delivery(topic, rng.choice(orders), "paid")
        elif topic == "orders/updated":
            order_delivery(topic, rng.choice(orders), "paid", fulfillment_status="fulfilled")
        elif topic == "refunds/create":
            order = rng.choice(orders)
            amount = f"{min(float(order['total']), rng.randint(5, 50)):.2f}"
            refund_id = p.next_id()
            emit(topic, p.refund_payload(order_id=order["id"], amount=amount,
                                         refund_id=refund_id, minutes=clock),
                 ("refund", str(refund_id)))
        elif topic == "checkouts/create":
            buyer = rng.choice(customers) if customers and rng.random() < 0.6 else None
            email = buyer["email"] if buyer else f"visitor{rng.randint(1, 10**9)}@example.com"
            token = uuid.UUID(int=rng.getrandbits(128)).hex
            emit(topic, p.checkout_payload(token=token, cart_token=token[::-1], email=email,
                                           updated=clock, customer=buyer),
                 ("checkout", token), buyer_fact(buyer, email))
    return Workload(_with_redeliveries(unique, rng), counts)


# --------------------------------------------------------------------------- WooCommerce

def woo_deliveries(n: int, shop_id: int, secrets: dict[str, tuple[str, str]], *,
                   seed: int = 7) -> Workload:
    """N unique signed WooCommerce deliveries in WOO_MIX plus ~2% redeliveries. `secrets`
    maps each topic to its webhook's (remote id, secret); a delivery's key is its inbox dedup
    key (resource + id + date_modified_gmt)."""
    from connectors.woocommerce.signatures import delivery_key

    p = woo_payloads
    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    topics = [t for t, _ in WOO_MIX]
    weights = [w for _, w in WOO_MIX]
    unique: list[Delivery] = []
    counts: Counter = Counter()
    customers: list[dict] = []
    orders: list[dict] = []
    clock = 0.0
    next_id = iter(range(10_000, 10_000_000))

    def emit(topic: str, payload: dict, *facts: Fact) -> None:
        body = json.dumps(payload).encode()
        hook_id, secret = secrets[topic]
        delivery_id = uuid.UUID(int=rng.getrandbits(128)).hex
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json", "X-WC-Webhook-Source": WOO_STORE_URL + "/",
            "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event, "X-WC-Webhook-Signature": p.wc_sign(body, secret),
            "X-WC-Webhook-ID": hook_id, "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        key = delivery_key(shop_id, topic, body, delivery_id)
        unique.append(Delivery(topic, key, body, headers, facts))
        counts[topic] += 1

    def buyer_fact(state: dict) -> Fact:
        if state["customer_id"]:
            return ("customer", str(state["customer_id"]))
        return ("email", state["email"])

    while len(unique) < n:
        clock += 0.5
        topic = rng.choices(topics, weights)[0]
        if topic == "order.updated" and not orders:
            topic = "order.created"
        if topic == "customer.updated" and not customers:
            topic = "customer.created"
        if topic == "customer.created":
            payload = p.customer(customer_id=next(next_id),
                                 email=f"shopper{len(customers) + 1}@example.com",
                                 modified=clock)
            customers.append(payload)
            emit(topic, payload, ("customer", str(payload["id"])))
        elif topic == "customer.updated":
            payload = dict(rng.choice(customers))
            payload.update(date_modified_gmt=p.gmt(clock),
                           first_name=rng.choice(["Ada", "Alan"]))
            emit(topic, payload, ("customer", str(payload["id"])))
        elif topic == "order.created":
            buyer = rng.choice(customers) if customers and rng.random() < 0.7 else None
            email = buyer["email"] if buyer else f"guest{rng.randint(1, 300)}@example.com"
            state = {"id": next(next_id), "customer_id": buyer["id"] if buyer else 0,
                     "email": email, "total": f"{rng.randint(15, 400)}.{rng.randint(0, 99):02d}",
                     "created": clock}
            orders.append(state)
            emit(topic, p.order(order_id=state["id"], customer_id=state["customer_id"],
                                email=email, total=state["total"], created=clock,
                                modified=clock),
                 ("order", str(state["id"])), buyer_fact(state))
        elif topic == "order.updated":
            state = rng.choice(orders)
            emit(topic, p.order(order_id=state["id"], customer_id=state["customer_id"],
                                email=state["email"], total=state["total"], status="completed",
                                created=state["created"], modified=clock),
                 ("order", str(state["id"])), buyer_fact(state))
        else:
            cart_id = f"c_{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
            emit(topic, {"id": cart_id, "customer_id": 0, "email": None,
                         "email_consent": False, "currency": "USD", "subtotal": "20.00",
                         "total": "22.00", "items": [], "recovery_url": None,
                         "source": "classic", "status": "open",
                         "date_created_gmt": p.gmt(clock), "date_modified_gmt": p.gmt(clock)},
                 ("cart", cart_id))
    return Workload(_with_redeliveries(unique, rng), counts)
