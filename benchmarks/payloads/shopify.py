"""Shopify webhook payloads: the published samples (`tests/fixtures/shopify`), varied."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks.payloads import sample

_ids = itertools.count(5_000_000_000_000_001)  # beyond 2^53 like real Shopify ids, via strings
BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def shopify_fixture(topic: str) -> dict[str, Any]:
    """The published sample payload of one topic (e.g. `orders/create`)."""
    return sample("shopify", topic.replace("/", "__"))


def next_id() -> int:
    return next(_ids) * 1000 + 7  # > 2**53


def ts(minutes: float = 0) -> str:
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat()


def _money_set(amount: Decimal | str, currency: str = "USD") -> dict[str, Any]:
    value = str(amount)
    return {"shop_money": {"amount": value, "currency_code": currency},
            "presentment_money": {"amount": value, "currency_code": currency}}


def customer_payload(*, customer_id: int | None = None, email: str = "ada@example.com",
                     first_name: str = "Ada", last_name: str = "Lovelace",
                     updated: float = 0) -> dict[str, Any]:
    payload = shopify_fixture("customers/create")
    payload.update(id=customer_id or next_id(), email=email, first_name=first_name,
                   last_name=last_name, created_at=ts(updated), updated_at=ts(updated))
    payload["admin_graphql_api_id"] = f"gid://shopify/Customer/{payload['id']}"
    return payload


def order_payload(*, order_id: int | None = None, customer: dict[str, Any] | None = None,
                  email: str | None = "ada@example.com", total: str = "100.00",
                  updated: float = 0, placed: float = 0, financial_status: str = "paid",
                  cancelled: bool = False, fulfillment_status: str | None = None,
                  checkout_token: str | None = None, cart_token: str | None = None,
                  refunds: list[dict[str, Any]] | None = None, quantity: int = 1
                  ) -> dict[str, Any]:
    """The published orders/create sample as a live, paid order (the sample is voided)."""
    payload = shopify_fixture("orders/create")
    order_id = order_id or next_id()
    price = Decimal(total) / quantity
    line = payload["line_items"][0]
    line.update(id=next_id(), quantity=quantity, price=str(price),
                price_set=_money_set(price), total_discount="0.00",
                total_discount_set=_money_set("0.00"))
    payload.update(
        id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}",
        name=f"#{order_id % 100000}", email=email, contact_email=email,
        created_at=ts(placed), processed_at=ts(placed), updated_at=ts(updated),
        cancelled_at=ts(updated) if cancelled else None,
        cancel_reason="customer" if cancelled else None,
        financial_status="voided" if cancelled else financial_status,
        fulfillment_status=fulfillment_status, test=False,
        total_price=total, total_price_set=_money_set(total),
        current_total_price=total, current_total_price_set=_money_set(total),
        subtotal_price=total, subtotal_price_set=_money_set(total),
        total_tax="0.00", total_tax_set=_money_set("0.00"),
        total_discounts="0.00", total_discounts_set=_money_set("0.00"),
        total_shipping_price_set=_money_set("0.00"),
        line_items=[line], refunds=refunds or [],
        checkout_token=checkout_token, cart_token=cart_token,
        customer=customer,
    )
    return payload


def refund_payload(*, order_id: int, amount: str = "30.00", refund_id: int | None = None,
                   minutes: float = 60, status: str = "success") -> dict[str, Any]:
    """The published refunds/create sample returning `amount`: one refunded line of that
    value and one refund transaction (of `status`) for it."""
    payload = shopify_fixture("refunds/create")
    refund_id = refund_id or next_id()
    line = payload["refund_line_items"][0]
    line.update(subtotal=float(amount), subtotal_set=_money_set(amount),
                total_tax=0.0, total_tax_set=_money_set("0.00"))
    transaction = payload["transactions"][0]
    transaction.update(id=next_id(), order_id=order_id, amount=amount, status=status,
                       created_at=ts(minutes))
    payload.update(id=refund_id, order_id=order_id, created_at=ts(minutes),
                   processed_at=ts(minutes), refund_line_items=[line], order_adjustments=[],
                   refund_shipping_lines=[], total_duties_set=_money_set("0.00"),
                   transactions=[transaction])
    return payload


def checkout_payload(*, token: str, cart_token: str | None = None,
                     email: str | None = "ada@example.com", updated: float = 0,
                     completed: bool = False, customer: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    payload = shopify_fixture("checkouts/create")
    payload.update(token=token, cart_token=cart_token, email=email, created_at=ts(updated),
                   updated_at=ts(updated), completed_at=ts(updated) if completed else None,
                   customer=customer,
                   abandoned_checkout_url=f"https://sticky-test.myshopify.com/checkouts/{token}"
                                          "/recover?key=k")
    return payload
