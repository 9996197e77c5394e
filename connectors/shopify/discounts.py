"""Single-use discount codes on Shopify (Admin GraphQL; needs `write_discounts`).

- `create_discount(client, spec)`: `discountCodeBasicCreate` (fixed amount or percentage off
  the order) or `discountCodeFreeShippingCreate`, with `usageLimit: 1`,
  `appliesOncePerCustomer: true` and `context.customers` naming the one customer who may use
  it (`context` replaced `customerSelection` in 2025-10). A shopper without a Shopify account
  (a guest, a referred friend not yet registered) cannot be named: their code is open to
  any buyer (`context.all: ALL`), protected by being single-use and unguessable.
- `find_discount(client, code)`: `codeDiscountNodeByCode`, to learn whether an earlier
  attempt whose answer was lost did create the code.

Errors follow `connectors.discounts`: `DiscountRefused` when Shopify answered and made
nothing, `DiscountOutcomeUnknown` when it may have. The AdminClient resends a request whose
answer was lost, so a code Shopify did create may come back as "Code must be unique"
(`TAKEN`): that answer is checked by looking the code up, never taken as a refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.discounts import (
    DiscountOutcomeUnknown,
    DiscountRefused,
    DiscountSpec,
    PlatformDiscount,
)
from connectors.shopify.admin import (
    AdminAuthError,
    AdminClient,
    AdminThrottled,
    AdminUnavailable,
    GraphQLError,
    UserErrors,
    raise_for_user_errors,
)

_NODE = """codeDiscountNode {
      id
      codeDiscount {
        ... on DiscountCodeBasic { title codes(first: 1) { nodes { code } } }
        ... on DiscountCodeFreeShipping { title codes(first: 1) { nodes { code } } }
      }
    }
    userErrors { field message code }"""

CREATE_BASIC = f"""mutation DiscountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {{
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {{
    {_NODE}
  }}
}}"""

CREATE_FREE_SHIPPING = f"""mutation DiscountCodeFreeShippingCreate(
  $freeShippingCodeDiscount: DiscountCodeFreeShippingInput!) {{
  discountCodeFreeShippingCreate(freeShippingCodeDiscount: $freeShippingCodeDiscount) {{
    {_NODE}
  }}
}}"""

FIND_BY_CODE = """query DiscountByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}"""


def customer_gid(platform_id: str) -> str:
    return platform_id if platform_id.startswith("gid://") else \
        f"gid://shopify/Customer/{platform_id}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def discount_input(spec: DiscountSpec) -> dict[str, Any]:
    """The `DiscountCodeBasicInput` / `DiscountCodeFreeShippingInput` for `spec`."""
    fields: dict[str, Any] = {
        "title": spec.title,
        "code": spec.code,
        "startsAt": _iso(spec.starts_at),
        "endsAt": _iso(spec.ends_at) if spec.ends_at else None,
        "usageLimit": 1,
        "appliesOncePerCustomer": True,
        "context": ({"customers": {"add": [customer_gid(spec.customer_platform_id)]}}
                    if spec.customer_platform_id else {"all": "ALL"}),
        "minimumRequirement": (
            {"subtotal": {"greaterThanOrEqualToSubtotal": _money(spec.minimum_order)}}
            if spec.minimum_order else None),
    }
    if spec.kind == "free_shipping":
        fields["destination"] = {"all": True}
    elif spec.kind == "percentage":
        fields["customerGets"] = {"value": {"percentage": float(spec.value / 100)},
                                  "items": {"all": True}}
    else:
        fields["customerGets"] = {"value": {"discountAmount": {
            "amount": _money(spec.value), "appliesOnEachItem": False}}, "items": {"all": True}}
    return fields


def _node(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    return (payload or {}).get("codeDiscountNode")


def create_discount(client: AdminClient, spec: DiscountSpec) -> PlatformDiscount:
    """Create the code; see the module's docstring for what each outcome means."""
    if spec.kind == "free_shipping":
        query, variable, root = (CREATE_FREE_SHIPPING, "freeShippingCodeDiscount",
                                 "discountCodeFreeShippingCreate")
    else:
        query, variable, root = CREATE_BASIC, "basicCodeDiscount", "discountCodeBasicCreate"
    try:
        payload = client.execute(query, {variable: discount_input(spec)}).get(root)
        raise_for_user_errors(payload)
    except UserErrors as exc:
        if any(e.get("code") == "TAKEN" for e in exc.user_errors):
            existing = find_discount(client, spec.code)
            if existing is not None:
                return existing
        raise DiscountRefused(str(exc)) from exc
    except (AdminUnavailable, AdminThrottled) as exc:
        raise DiscountOutcomeUnknown(str(exc)) from exc
    except AdminAuthError as exc:
        raise DiscountRefused(f"Shopify refused Sticky's access: {exc}") from exc
    except GraphQLError as exc:
        raise DiscountRefused(str(exc)) from exc
    node = _node(payload)
    if not node or not node.get("id"):
        raise DiscountOutcomeUnknown(f"{root} answered without the discount it made")
    return PlatformDiscount(str(node["id"]), spec.code)


def find_discount(client: AdminClient, code: str) -> PlatformDiscount | None:
    """The discount with this code (case-insensitive, as Shopify matches codes), or None.
    Raises DiscountOutcomeUnknown when Shopify cannot be asked."""
    try:
        node = client.execute(FIND_BY_CODE, {"code": code}).get("codeDiscountNodeByCode")
    except (AdminUnavailable, AdminThrottled, AdminAuthError, GraphQLError) as exc:
        raise DiscountOutcomeUnknown(f"could not look up the code: {exc}") from exc
    if not node or not node.get("id"):
        return None
    return PlatformDiscount(str(node["id"]), code)
