"""A single-use discount code, as the domain asks a platform for it, and what can come back.

Both platforms' connectors (`connectors.shopify.discounts`, `connectors.woocommerce.coupons`)
take a `DiscountSpec` and either return a `PlatformDiscount` or raise one of two errors,
which the domain must tell apart because points hang on the difference:

- `DiscountRefused`: the platform answered and did not create the code (a 4xx, `userErrors`,
  refused credentials). Nothing exists; the points held for it can be released.
- `DiscountOutcomeUnknown`: no usable answer (timeout, connection lost, 5xx, throttled to the
  end). The code may or may not exist: look it up by code before creating it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

KINDS = ("fixed_amount", "percentage", "free_shipping")


@dataclass(frozen=True, slots=True)
class DiscountSpec:
    code: str
    title: str
    kind: str  # fixed_amount | percentage | free_shipping
    # Money off in shop currency (fixed_amount), percent off 0-100 (percentage); unused for
    # free shipping.
    value: Decimal
    minimum_order: Decimal | None
    starts_at: datetime
    ends_at: datetime | None
    # Who may use it: the platform's customer id when the shopper has an account, and their
    # email (WooCommerce restricts by email; Shopify by customer).
    customer_platform_id: str | None
    email: str | None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown discount kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class PlatformDiscount:
    platform_id: str  # Shopify: the DiscountCodeNode gid; WooCommerce: the coupon id
    code: str


class DiscountRefused(Exception):
    """The platform answered and made no code; `reason` says why, in its words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DiscountOutcomeUnknown(Exception):
    """No usable answer: the code may exist. Look it up before creating it again."""
