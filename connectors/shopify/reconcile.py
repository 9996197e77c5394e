"""Shopify "changed since" reads as a ReconcileSource (connectors/sources.py).

Paginated GraphQL (not bulk: a reconciliation window is small and must finish within its
period): customers, then orders with line items, filtered by `updated_at:>'...'` and read by
cursor. Page sizes keep each query's calculated cost well under Shopify's single-query limit
(1,000 points); an order with more line items than the nested page holds gets the rest by a
follow-up query on that order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from connectors.records import PayloadError, Record
from connectors.shopify import graphql_records as gql
from connectors.shopify.admin import AdminClient

log = logging.getLogger(__name__)

CUSTOMERS_PER_PAGE = 100
ORDERS_PER_PAGE = 10
LINES_PER_ORDER = 10
LINES_PER_FOLLOW_UP = 100

PAGE_INFO = "pageInfo { hasNextPage endCursor }"

CUSTOMERS_QUERY = f"""
query ChangedCustomers($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    {PAGE_INFO}
    nodes {{ {gql.CUSTOMER_FIELDS} }}
  }}
}}
"""

ORDERS_QUERY = f"""
query ChangedOrders($first: Int!, $after: String, $query: String, $lines: Int!) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    {PAGE_INFO}
    nodes {{
      {gql.ORDER_FIELDS}
      lineItems(first: $lines) {{ {PAGE_INFO} nodes {{ {gql.LINE_ITEM_FIELDS} }} }}
    }}
  }}
}}
"""

ORDER_LINES_QUERY = f"""
query OrderLines($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{
    lineItems(first: $first, after: $after) {{ {PAGE_INFO} nodes {{ {gql.LINE_ITEM_FIELDS} }} }}
  }}
}}
"""


def search_since(since: datetime | None) -> str | None:
    """Shopify search syntax for "updated after `since`" (None: no filter)."""
    if since is None:
        return None
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"updated_at:>'{stamp}'"


class ShopifyReconcileSource:
    def __init__(self, client: AdminClient) -> None:
        self.client = client
        self.skipped = 0

    def changed_since(self, since: datetime | None) -> Iterator[list[Record]]:
        search = search_since(since)
        for nodes in self._paginate(CUSTOMERS_QUERY, "customers",
                                    {"first": CUSTOMERS_PER_PAGE, "query": search}):
            yield self._records(gql.customer, [(n,) for n in nodes])
        for nodes in self._paginate(ORDERS_QUERY, "orders",
                                    {"first": ORDERS_PER_PAGE, "query": search,
                                     "lines": LINES_PER_ORDER}):
            yield self._records(gql.order, [(n, self._all_lines(n)) for n in nodes])

    def _paginate(self, query: str, field: str, variables: dict[str, Any],
                  ) -> Iterator[list[dict[str, Any]]]:
        after = None
        while True:
            data = self.client.execute(query, {**variables, "after": after})
            connection = data.get(field) or {}
            nodes = gql.connection_nodes(connection)
            if nodes:
                yield nodes
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            after = info["endCursor"]

    def _all_lines(self, order_node: dict[str, Any]) -> list[dict[str, Any]]:
        connection = order_node.get("lineItems") or {}
        lines = list(gql.connection_nodes(connection))
        info = connection.get("pageInfo") or {}
        after = info.get("endCursor")
        while info.get("hasNextPage") and after:
            data = self.client.execute(ORDER_LINES_QUERY, {
                "id": order_node["id"], "first": LINES_PER_FOLLOW_UP, "after": after})
            more = ((data.get("order") or {}).get("lineItems")) or {}
            lines.extend(gql.connection_nodes(more))
            info = more.get("pageInfo") or {}
            after = info.get("endCursor")
        return lines

    def _records(self, convert, args_list: list[tuple]) -> list[Record]:
        records: list[Record] = []
        for args in args_list:
            try:
                records.append(convert(*args))
            except PayloadError as exc:
                self.skipped += 1
                log.warning("shopify.reconcile.bad_record", extra={
                    "shop": self.client.shop_domain, "node": args[0].get("id"),
                    "error": str(exc)})
        return records
