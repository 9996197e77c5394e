"""Reconciliation for WooCommerce: re-read what changed, because webhooks are not guaranteed.

WooCommerce never retries a failed delivery, and disables a webhook after 5 failures, so the
mirror is repaired by polling: orders modified since the watermark (`modified_after` with
`dates_are_gmt=true`, including the bin, so deletions are seen), their refunds, and customers.
The customers endpoint cannot filter by modification time, so it re-reads the customers who
registered since the watermark and those behind the changed orders; `since=None` reads all.
Records go through the same upsert path (ProfileStore) as webhooks, whose `updated_at` guard
makes an older read harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from connectors.records import Record
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.dates import parse_gmt
from connectors.woocommerce.normalize import customer, order_records, refund

# Woo's modified_after is inclusive to the second; re-read a little overlap for clock skew.
OVERLAP = timedelta(minutes=2)


def _gmt(when: datetime) -> str:
    return when.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def refunds_for(client: WooClient, payload: dict) -> list[Record]:
    """The dated refunds of an order that has any (the order's array carries no dates)."""
    if not payload.get("refunds"):
        return []
    order_id = payload["id"]
    return [refund(item, order_id)
            for page in client.paginate(f"orders/{order_id}/refunds")
            for item in page.items]


def order_page_records(client: WooClient, items: list[dict]) -> list[Record]:
    """Records for one page of orders: dated refunds first, so they win over undated copies."""
    records: list[Record] = []
    for item in items:
        records += refunds_for(client, item)
        records += order_records(item)
    return records


class WooReconcileSource:
    def __init__(self, client: WooClient) -> None:
        self.client = client

    def changed_since(self, since: datetime | None) -> Iterator[list[Record]]:
        params: dict[str, str] = {"orderby": "id", "order": "asc"}
        if since is not None:
            params.update(modified_after=_gmt(since - OVERLAP), dates_are_gmt="true")
        buyer_ids: set[str] = set()
        for status in ("any", "trash"):
            for page in self.client.paginate("orders", {**params, "status": status}):
                buyer_ids |= {str(o["customer_id"]) for o in page.items
                              if o.get("customer_id") not in (None, 0, "0")}
                if page.items:
                    yield order_page_records(self.client, page.items)
        customer_params: dict[str, str] = {"orderby": "registered_date", "order": "desc",
                                           "role": "all"}
        seen: set[str] = set()
        cutoff = since - OVERLAP if since is not None else None
        for page in self.client.paginate("customers", customer_params):
            fresh = [c for c in page.items if cutoff is None or (
                (parse_gmt(c.get("date_created_gmt")) or cutoff) >= cutoff)]
            seen |= {str(c["id"]) for c in fresh}
            if fresh:
                yield [customer(c) for c in fresh]
            if len(fresh) < len(page.items):
                break  # newest first: the rest registered before the watermark
        wanted = sorted(buyer_ids - seen, key=int)
        for start in range(0, len(wanted), 100):
            chunk = wanted[start:start + 100]
            for page in self.client.paginate("customers", {"include": ",".join(chunk),
                                                           "role": "all"}):
                if page.items:
                    yield [customer(c) for c in page.items]
