"""The demo store: who it is, what it sells, and what a shopper's basket costs.

Shared by the seeder (the store's history) and the simulator (its live webhooks), so both
sell the same products at the same prices, taxes and shipping.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import click

DEMO_DOMAIN = "sticky-demo.myshopify.com"
DEMO_NAME = "Sticky Demo Outfitters"
DEMO_TOKEN = "shpat_demo_token"  # noqa: S105 - a placeholder; the demo never calls Shopify
DEMO_CURRENCY = "USD"
DEMO_SEED = 20240917
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "shopify"
CENT = Decimal("0.01")
TAX_RATE = Decimal("0.07")
FREE_SHIPPING_OVER = Decimal("75")
SHIPPING = Decimal("6.95")
EMAIL_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com",
                 "icloud.com", "hotmail.com", "proton.me", "fastmail.com")


class DemoError(click.ClickException):
    """A problem that stops the demo, shown without a traceback."""


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


def money(value: Decimal) -> Decimal:
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
        return money(self.line_total * pct)

    @property
    def subtotal(self) -> Decimal:
        return self.line_total - self.discount

    @property
    def shipping(self) -> Decimal:
        return Decimal("0.00") if self.subtotal >= FREE_SHIPPING_OVER else SHIPPING

    @property
    def tax(self) -> Decimal:
        return money(self.subtotal * TAX_RATE)

    @property
    def total(self) -> Decimal:
        return money(self.subtotal + self.shipping + self.tax)


def random_basket(rng: random.Random, *, vip: bool = False) -> Basket:
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


def cart_lines(basket: Basket) -> list[dict[str, Any]]:
    return [
        {"title": p.title, "variant_title": p.variant_title, "quantity": q, "price": str(p.price),
         "product_id": str(p.product_id), "variant_id": str(p.variant_id), "sku": p.sku}
        for p, q in basket.lines
    ]


def recovery_url(token: str) -> str:
    """An abandoned checkout's recovery link, shaped like Shopify's."""
    return (f"https://{DEMO_DOMAIN}/72119206142/checkouts/{token}/recover"
            f"?key={uuid.uuid5(uuid.NAMESPACE_URL, token).hex}")
