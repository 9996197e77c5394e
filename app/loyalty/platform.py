"""The program's calls to a store's platform: discount codes and the balance write-back.

Here a Shop row becomes a connector call (its client, with its credentials); the connectors
know nothing of shops. Calls a shopper waits for (making their code) use a client with a
short timeout and few quick retries: a code that cannot be confirmed within seconds is
kept on hold and finished by a job, never left to a 30-second wait. The write-back uses the
same quick client: its own backoff (`app.loyalty.writeback`) retries what fails.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from app.crypto import CredentialError
from app.shops.clients import shopify_admin_client, woo_client
from app.shops.models import Shop
from app.shops.outbound import OutboundRefused
from app.shops.tokens import TokenError
from connectors.discounts import DiscountRefused, DiscountSpec, PlatformDiscount
from connectors.http import HttpClient
from connectors.shopify import discounts as shopify_discounts
from connectors.shopify import metafields
from connectors.woocommerce import coupons, customer_meta

# A shopper waits on this: (connect, read) seconds, and resends of a lost answer.
INTERACTIVE_TIMEOUT = (5.0, 15.0)
INTERACTIVE_RETRIES = 2


def _quick_http() -> HttpClient:
    return HttpClient(timeout=INTERACTIVE_TIMEOUT, retries=INTERACTIVE_RETRIES, backoff=0.25,
                      max_backoff=2.0)


def _credentials_refused(shop: Shop, exc: Exception) -> DiscountRefused:
    return DiscountRefused(f"Sticky cannot reach {shop.domain}: {exc}")


def create_discount(session: Session, shop: Shop, spec: DiscountSpec) -> PlatformDiscount:
    """Make the code on the shop's platform. Raises DiscountRefused (nothing was made) or
    DiscountOutcomeUnknown (it may have been: look it up before trying again)."""
    try:
        if shop.platform == "shopify":
            client = shopify_admin_client(session, shop, http=_quick_http())
            return shopify_discounts.create_discount(client, spec)
        return coupons.create_coupon(woo_client(shop, http=_quick_http()), spec)
    except (TokenError, CredentialError, ValueError, OutboundRefused) as exc:
        raise _credentials_refused(shop, exc) from exc


def find_discount(session: Session, shop: Shop, code: str) -> PlatformDiscount | None:
    """The code as the platform has it, or None. Raises DiscountOutcomeUnknown when the
    platform cannot be asked, DiscountRefused when Sticky has no way in."""
    try:
        if shop.platform == "shopify":
            return shopify_discounts.find_discount(
                shopify_admin_client(session, shop, http=_quick_http()), code)
        return coupons.find_coupon(woo_client(shop, http=_quick_http()), code)
    except (TokenError, CredentialError, ValueError, OutboundRefused) as exc:
        raise _credentials_refused(shop, exc) from exc


def write_members(session: Session, shop: Shop, members: Sequence[metafields.MemberFigures]
                  ) -> dict[str, str | None]:
    """Write balances and tiers; platform customer id → None (written) or why not."""
    if not members:
        return {}
    try:
        if shop.platform == "shopify":
            return metafields.write_members(
                shopify_admin_client(session, shop, http=_quick_http()), members)
        return customer_meta.write_members(woo_client(shop, http=_quick_http()), [
            customer_meta.MemberMeta(m.platform_customer_id, m.points_balance, m.tier)
            for m in members])
    except (TokenError, CredentialError, ValueError, OutboundRefused) as exc:
        reason = f"Sticky cannot reach {shop.domain}: {exc}"
        return {m.platform_customer_id: reason for m in members}
