"""What the widget's tests share: a member with points, and a Shopify-signed proxy query."""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from app.crypto import encrypt
from app.loyalty import ledger
from app.loyalty.models import LoyaltyReward
from app.loyalty.program import save_program
from app.profiles.models import Customer
from app.shops.models import Shop
from app.woocommerce.models import WooWebhook
from tests.conftest import SHOPIFY_SECRET


def proxy_signature(params: list[tuple[str, str]], secret: str = SHOPIFY_SECRET) -> str:
    """Shopify's documented algorithm, written out independently of app.loyalty.proxy."""
    grouped: dict[str, list[str]] = {}
    for key, value in params:
        grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_query(shop_domain: str, customer_id: str | None, *, secret: str = SHOPIFY_SECRET,
                 timestamp: int | None = None, extra: list[tuple[str, str]] = ()) -> str:
    params = [*extra, ("shop", shop_domain), ("logged_in_customer_id", customer_id or ""),
              ("path_prefix", "/apps/sticky"),
              ("timestamp", str(int(time.time()) if timestamp is None else timestamp))]
    return urlencode([*params, ("signature", proxy_signature(params, secret))])


def make_member(session: Session, shop: Shop, platform_id: str, *, first_name: str = "Ada",
                points: int = 0, email: str | None = None) -> Customer:
    customer = Customer(shop_id=shop.id, platform_customer_id=platform_id,
                        first_name=first_name, email=email or f"{platform_id}@example.com")
    session.add(customer)
    session.flush()
    if points:
        ledger.append(session, shop.id, ledger.NewEntry(
            customer_id=customer.id, kind="earn", points=points, reason="Order #1001",
            source="order", key=f"order:{platform_id}:purchase"))
    session.commit()
    return customer


def open_program(session: Session, shop: Shop, **changes) -> None:
    settings = {"enabled": True, "points_per_unit": "2", "signup_points": 100,
                "first_order_points": 50, "birthday_points": 75, **changes}
    save_program(session, shop.id, settings)
    session.commit()


def add_reward(session: Session, shop: Shop, name: str, cost: int, **fields) -> LoyaltyReward:
    reward = LoyaltyReward(shop_id=shop.id, name=name, kind=fields.pop("kind", "fixed_amount"),
                           value=fields.pop("value", 5), points_cost=cost, **fields)
    session.add(reward)
    session.commit()
    return reward


# WooCommerce: the secret of the sticky_cart.updated webhook, which embed tokens derive from.
SECRET = "wcWebhookSecret0123456789abcdefABCDEF0123"
OTHER_SECRET = "anotherStoresWebhookSecret0123456789abcd"


def woo_store(session, domain: str, secret: str) -> Shop:
    shop = Shop(platform="woocommerce", domain=domain, currency="EUR",
                api_base_url=f"https://{domain}", name="Hat Shop")
    session.add(shop)
    session.flush()
    session.add(WooWebhook(shop_id=shop.id, topic="sticky_cart.updated", remote_id="31",
                           secret_encrypted=encrypt(secret), status="active"))
    session.commit()
    return shop
