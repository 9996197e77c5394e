"""History backfill for WooCommerce: customers, then orders, 100 per page, resumable.

The cursor names the last page applied, e.g. "customers:7" or "orders:12"; resuming starts at
the next page. Pages are read oldest id first, so a page's content does not shift while new
orders arrive. Requests go through the shop's WooClient (30 s timeout, backoff on 429/5xx).
Checkouts (pending / checkout-draft orders) idle for longer than STALE_CHECKOUT are left out:
they are history, not carts a shopper may still come back to.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from connectors.records import CartRecord, Record
from connectors.sources import Page
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.normalize import customer
from connectors.woocommerce.reconcile import order_page_records

PHASES = ("customers", "orders")
STALE_CHECKOUT = timedelta(days=7)
_PARAMS = {
    "customers": {"orderby": "id", "order": "asc", "role": "all"},
    "orders": {"orderby": "id", "order": "asc"},
}


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    """(phase index, next page) to start from; ValueError for a cursor this source never made."""
    if not cursor:
        return 0, 1
    phase, _, page = cursor.partition(":")
    if phase not in PHASES or not page.isdigit():
        raise ValueError(f"not a WooCommerce backfill cursor: {cursor!r}")
    return PHASES.index(phase), int(page) + 1


class WooBackfillSource:
    def __init__(self, client: WooClient, *, now: datetime | None = None) -> None:
        self.client = client
        self.now = now or datetime.now(UTC)

    def total(self) -> int | None:
        total = 0
        for phase in PHASES:
            count = self.client.get_page(phase, {**_PARAMS[phase], "per_page": 1}).total
            if count is None:
                return None
            total += count
        return total

    def _records(self, phase: str, items: list[dict]) -> list[Record]:
        if phase == "customers":
            return [customer(item) for item in items]
        cutoff = self.now - STALE_CHECKOUT
        return [r for r in order_page_records(self.client, items)
                if not (isinstance(r, CartRecord) and r.updated_at and r.updated_at < cutoff)]

    def pages(self, resume_cursor: str | None) -> Iterator[Page]:
        start_phase, start_page = parse_cursor(resume_cursor)
        for index in range(start_phase, len(PHASES)):
            phase = PHASES[index]
            first = start_page if index == start_phase else 1
            for result in self.client.paginate(phase, _PARAMS[phase], start_page=first):
                if not result.items:
                    break
                yield Page(records=self._records(phase, result.items),
                           cursor=f"{phase}:{result.page}", units=len(result.items))
