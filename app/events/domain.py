"""What a domain event is: its kinds and its shape (no behaviour, no imports of the app)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CUSTOMER_CREATED = "customer_created"
ORDER_PLACED = "order_placed"
ORDER_PAID = "order_paid"
ORDER_CANCELLED = "order_cancelled"
ORDER_FULFILLED = "order_fulfilled"
REFUND_CREATED = "refund_created"
CHECKOUT_STARTED = "checkout_started"
CART_ABANDONED = "cart_abandoned"
EMAIL_MARKETING_CHANGED = "email_marketing_changed"

# Published by the loyalty program (app/loyalty/notices.py), for flows (loyalty notices).
POINTS_EARNED = "points_earned"
POINTS_EXPIRING = "points_expiring"
POINTS_EXPIRED = "points_expired"
TIER_CHANGED = "tier_changed"
REWARD_REDEEMED = "reward_redeemed"
REFERRAL_COMPLETED = "referral_completed"
LOYALTY_KINDS = frozenset({POINTS_EARNED, POINTS_EXPIRING, POINTS_EXPIRED, TIER_CHANGED,
                           REWARD_REDEEMED, REFERRAL_COMPLETED})

KINDS = frozenset({CUSTOMER_CREATED, ORDER_PLACED, ORDER_PAID, ORDER_CANCELLED, ORDER_FULFILLED,
                   REFUND_CREATED, CHECKOUT_STARTED, CART_ABANDONED, EMAIL_MARKETING_CHANGED,
                   *LOYALTY_KINDS})


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One fact about one shopper of one shop.

    (shop_id, customer_id, kind, ref) is also the fact's timeline row, whose unique key is what
    publishes a fact once however often it is delivered. `id` is the event's position in the
    shop's log: None until the event is stored, set on every event a subscriber receives (a
    natural key for effects that must happen once per event).
    """

    shop_id: int
    customer_id: int
    kind: str
    ref: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
