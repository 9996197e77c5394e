"""Whether Sticky may call a store's platform: the one rule every outbound path asks.

The demo store (`shops.demo`, set only by `flask --app app demo`) exists on this machine
alone: its domain and token are made up and its webhooks come from the local simulator. So
nothing is ever sent to its platform: no reconciliation, history backfill, token refresh,
migration or exchange, webhook registration. A flag on the row, not a match on the domain,
because a real merchant may own the demo's domain.

Two ways to ask, for two kinds of caller:
- `skip_outbound(shop, action)` for jobs and commands that can simply not do their work: it
  logs one line saying so and returns True;
- `require_outbound(shop, action)` where credentials are handed to a connector (the last
  step before a request): it raises `OutboundRefused`, so no path that forgot to ask first
  can reach the network.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)

PLATFORM_NAMES = {"shopify": "Shopify", "woocommerce": "WooCommerce"}


class _StoreLike(Protocol):
    id: int
    domain: str
    platform: str
    demo: bool


class OutboundRefused(RuntimeError):
    """A call to the store's platform was refused: the store is the local demo."""


def outbound_allowed(shop: _StoreLike) -> bool:
    """False for a store whose platform must never be called (the local demo store)."""
    return not shop.demo


def _reason(shop: _StoreLike, action: str, outcome: str) -> str:
    platform = PLATFORM_NAMES.get(shop.platform, shop.platform)
    return (f"{shop.domain} is the local demo store, which never calls {platform}: "
            f"{action} {outcome}")


def skip_outbound(shop: _StoreLike, action: str) -> bool:
    """True, after one log line naming the store and `action`, when `action` must not run."""
    if outbound_allowed(shop):
        return False
    log.info("shop.outbound_skipped: %s", _reason(shop, action, "skipped"),
             extra={"shop_id": shop.id, "shop": shop.domain, "action": action})
    return True


def require_outbound(shop: _StoreLike, action: str) -> None:
    """Raise OutboundRefused unless `action` may call the store's platform."""
    if not outbound_allowed(shop):
        raise OutboundRefused(_reason(shop, action, "refused"))
