"""The contract between the sync runner and a platform's history reader.

A *source* reads one shop's history from its platform and hands over neutral records
(connectors/records.py). The runner (app/sync/backfill.py, app/sync/reconcile.py) owns
transactions, progress and resumption; a source only reads.

Stable interface: the WooCommerce connector implements it in connectors/woocommerce/.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from app.shops.outbound import require_outbound
from connectors.records import Record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.shops.models import Shop


@dataclass
class Page:
    """One unit of work the runner applies in a single transaction.

    `cursor` is an opaque string that, passed back to `pages(resume_cursor=...)`, yields the
    pages AFTER this one (None when the source cannot resume mid-way or this is the end).
    `units` is how many orders/customers this page consumed, for progress (compared to total()).
    """

    records: list[Record] = field(default_factory=list)
    cursor: str | None = None
    units: int = 0


class BackfillSource(Protocol):
    def total(self) -> int | None:
        """Units the whole history holds (for the progress bar); None when unknown."""
        ...

    def pages(self, resume_cursor: str | None) -> Iterator[Page]:
        """Pages of the full history, starting after `resume_cursor` (None: from the start)."""
        ...


class ReconcileSource(Protocol):
    def changed_since(self, since: datetime | None) -> Iterator[list[Record]]:
        """Batches of records for everything updated at or after `since` (None: everything)."""
        ...


class UnsupportedPlatform(ValueError):
    """The shop's platform has no sync source (yet)."""


_BACKFILL_FACTORIES = {
    "shopify": ("connectors.shopify.backfill", "make_backfill_source"),
    "woocommerce": ("connectors.woocommerce.backfill", "make_backfill_source"),
}
_RECONCILE_FACTORIES = {
    "shopify": ("connectors.shopify.reconcile", "make_reconcile_source"),
    "woocommerce": ("connectors.woocommerce.reconcile", "make_reconcile_source"),
}


def _factory(table: dict[str, tuple[str, str]], platform: str):
    # Imported lazily: a connector may not be installed (or written) yet, and importing one
    # platform's client must not be a cost every other platform pays.
    try:
        module_name, attr = table[platform]
    except KeyError:
        raise UnsupportedPlatform(f"no sync source for platform {platform!r}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UnsupportedPlatform(f"sync for {platform!r} is not available: {exc}") from exc
    return getattr(module, attr)


def backfill_source_for(session: Session, shop: Shop) -> BackfillSource:
    """The history reader for `shop`'s platform, with that shop's credentials.

    Raises OutboundRefused for the demo store, which is never read from its platform.
    """
    require_outbound(shop, "history backfill")
    return _factory(_BACKFILL_FACTORIES, shop.platform)(session, shop)


def reconcile_source_for(session: Session, shop: Shop) -> ReconcileSource:
    """The changed-since reader for `shop`'s platform, with that shop's credentials.

    Raises OutboundRefused for the demo store, which is never read from its platform.
    """
    require_outbound(shop, "reconciliation")
    return _factory(_RECONCILE_FACTORIES, shop.platform)(session, shop)
