"""The sync readers for a stored shop: its platform's connector source, with its credentials.

The readers, and the Page and protocols they share with the runner, live in the connectors
(connectors/sources.py) and take plain values. This module is the domain's half: it picks the
reader for the shop's platform and hands it a client built from the shop's credentials
(app/shops/clients.py) and the app's settings. Connectors are imported lazily, so using one
platform never costs importing another's client.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from app.shops.clients import shopify_admin_client, woo_client
from app.shops.models import Shop
from app.shops.outbound import require_outbound
from connectors.sources import BackfillSource, ReconcileSource


class UnsupportedPlatform(ValueError):
    """The shop's platform has no sync source (yet)."""


def backfill_source_for(session: Session, shop: Shop, **options: Any) -> BackfillSource:
    """The history reader for `shop`'s platform, with that shop's credentials.

    `options` go to the source. For Shopify, `page_size` defaults to BACKFILL_PAGE_SIZE
    (records per transaction, 5000) and `poll_interval` to SHOPIFY_BULK_POLL_SECONDS (the
    first bulk-operation poll interval, 2 s). Raises OutboundRefused for the demo store,
    which is never read from its platform.
    """
    require_outbound(shop, "history backfill")
    if shop.platform == "shopify":
        from connectors.shopify.backfill import DEFAULT_PAGE_SIZE, ShopifyBulkSource

        config = current_app.config
        options.setdefault("page_size", int(config.get("BACKFILL_PAGE_SIZE", DEFAULT_PAGE_SIZE)))
        options.setdefault("poll_interval", float(config.get("SHOPIFY_BULK_POLL_SECONDS", 2.0)))
        return ShopifyBulkSource(shopify_admin_client(session, shop), **options)
    if shop.platform == "woocommerce":
        from connectors.woocommerce.backfill import WooBackfillSource

        return WooBackfillSource(woo_client(shop), **options)
    raise UnsupportedPlatform(f"no sync source for platform {shop.platform!r}")


def reconcile_source_for(session: Session, shop: Shop) -> ReconcileSource:
    """The changed-since reader for `shop`'s platform, with that shop's credentials.

    Raises OutboundRefused for the demo store, which is never read from its platform.
    """
    require_outbound(shop, "reconciliation")
    if shop.platform == "shopify":
        from connectors.shopify.reconcile import ShopifyReconcileSource

        return ShopifyReconcileSource(shopify_admin_client(session, shop))
    if shop.platform == "woocommerce":
        from connectors.woocommerce.reconcile import WooReconcileSource

        return WooReconcileSource(woo_client(shop))
    raise UnsupportedPlatform(f"no sync source for platform {shop.platform!r}")
