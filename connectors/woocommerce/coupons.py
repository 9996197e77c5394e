"""Single-use coupons on WooCommerce (REST `wc/v3/coupons`).

- `create_coupon(client, spec)`: `POST coupons` with `usage_limit: 1`,
  `usage_limit_per_user: 1`, `individual_use` and, when the shopper's email is known,
  `email_restrictions: [email]` (WooCommerce checks it against the billing email at checkout).
  Free shipping is a `fixed_cart` coupon of amount 0 with `free_shipping: true` (the store's
  shipping method must allow free shipping by coupon, as WooCommerce documents).
- `find_coupon(client, code)`: `GET coupons?code=`, to learn whether an earlier attempt whose
  answer was lost did create it.

Errors follow `connectors.discounts`. A POST is not resent by the HTTP client on a lost
answer (it is not idempotent), and WooCommerce refuses a code that exists
(`woocommerce_rest_coupon_code_already_exists`): that answer is checked by looking the code up.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any

from connectors.discounts import (
    DiscountOutcomeUnknown,
    DiscountRefused,
    DiscountSpec,
    PlatformDiscount,
)
from connectors.http import ClientError, HttpError
from connectors.woocommerce.client import WooClient

CODE_EXISTS = "woocommerce_rest_coupon_code_already_exists"


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def coupon_body(spec: DiscountSpec) -> dict[str, Any]:
    """The coupon as `POST coupons` takes it."""
    if spec.kind == "percentage":
        discount_type, amount = "percent", format(spec.value.normalize(), "f")
    elif spec.kind == "free_shipping":
        discount_type, amount = "fixed_cart", "0"
    else:
        discount_type, amount = "fixed_cart", _money(spec.value)
    body: dict[str, Any] = {
        "code": spec.code,
        "description": spec.title,
        "discount_type": discount_type,
        "amount": amount,
        "free_shipping": spec.kind == "free_shipping",
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "email_restrictions": [spec.email] if spec.email else [],
    }
    if spec.minimum_order:
        body["minimum_amount"] = _money(spec.minimum_order)
    if spec.ends_at:
        # With an explicit offset WooCommerce reads the time as given, not in the site's zone.
        body["date_expires"] = spec.ends_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return body


def _error_code(exc: HttpError) -> str | None:
    import json

    try:
        return (json.loads(exc.body) or {}).get("code")
    except (ValueError, AttributeError):
        return None


def _error_message(exc: HttpError) -> str:
    import json

    try:
        message = (json.loads(exc.body) or {}).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or exc)


def create_coupon(client: WooClient, spec: DiscountSpec) -> PlatformDiscount:
    """Create the coupon; see the module's docstring for what each outcome means."""
    try:
        coupon = client.post("coupons", coupon_body(spec))
    except ClientError as exc:
        if _error_code(exc) == CODE_EXISTS:
            existing = find_coupon(client, spec.code)
            if existing is not None:
                return existing
        raise DiscountRefused(f"WooCommerce refused the coupon: {_error_message(exc)}") from exc
    except HttpError as exc:  # transport, 5xx, still rate limited
        raise DiscountOutcomeUnknown(str(exc)) from exc
    except ValueError as exc:  # not JSON
        raise DiscountOutcomeUnknown("WooCommerce answered with something other than JSON") \
            from exc
    if not isinstance(coupon, dict) or not coupon.get("id"):
        raise DiscountOutcomeUnknown("WooCommerce answered without the coupon it made")
    return PlatformDiscount(str(coupon["id"]), str(coupon.get("code") or spec.code))


def find_coupon(client: WooClient, code: str) -> PlatformDiscount | None:
    """The coupon with this code, or None. WooCommerce keeps codes in lower case."""
    try:
        found = client.get("coupons", {"code": code})
    except (HttpError, ValueError) as exc:
        raise DiscountOutcomeUnknown(f"could not look up the coupon: {exc}") from exc
    for coupon in found if isinstance(found, list) else []:
        if isinstance(coupon, dict) and str(coupon.get("code", "")).lower() == code.lower():
            return PlatformDiscount(str(coupon["id"]), code)
    return None
