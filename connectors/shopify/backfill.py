"""Shopify history as a BackfillSource (connectors/sources.py), read with Bulk Operations.

Two bulk queries run one after the other: customers, then orders with their line items (so
profiles exist with full details before their orders point at them). Each result file is
streamed; line items (`__parentId` rows) are joined to their order as they arrive.

Resume point (the page cursor), a small JSON object:
    {"stage": "customers" | "orders", "operation": <bulk operation gid> | null, "line": n}
`line` is how many lines of that operation's file are already applied. Pages end only on
an order boundary, so an order and its line items are always applied together. On resume the
operation is looked up again (its signed URL may have expired; the operation's results stay
for seven days); if it is gone, that stage starts over with a new operation, which is safe
because applying a record twice changes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from connectors.http import HttpClient
from connectors.records import PayloadError, Record
from connectors.shopify import graphql_records as gql
from connectors.shopify.admin import AdminClient, GraphQLError
from connectors.shopify.bulk import (
    BULK_PARENT_KEY,
    BulkOperation,
    BulkOperationFailed,
    get_bulk_operation,
    start_bulk_query,
    stream_jsonl,
    watch_bulk_operation,
)
from connectors.sources import Page

log = logging.getLogger(__name__)

CUSTOMERS, ORDERS = "customers", "orders"
STAGES = (CUSTOMERS, ORDERS)
DEFAULT_PAGE_SIZE = 5000

BULK_QUERIES = {
    CUSTOMERS: f"{{ customers {{ edges {{ node {{ {gql.CUSTOMER_FIELDS} }} }} }} }}",
    ORDERS: (
        f"{{ orders {{ edges {{ node {{ {gql.ORDER_FIELDS}"
        f" lineItems {{ edges {{ node {{ {gql.LINE_ITEM_FIELDS} }} }} }}"
        f" }} }} }} }}"
    ),
}

COUNTS_QUERY = "query { customersCount { count } ordersCount(limit: null) { count } }"


class BulkFileError(RuntimeError):
    """The result file is not grouped as asked (a child row far from its parent)."""


def encode_cursor(stage: str, operation_id: str | None, line: int) -> str:
    return json.dumps({"stage": stage, "operation": operation_id, "line": line},
                      separators=(",", ":"))


def decode_cursor(cursor: str | None) -> tuple[str, str | None, int]:
    if not cursor:
        return CUSTOMERS, None, 0
    try:
        state = json.loads(cursor)
        stage = state["stage"]
        if stage not in STAGES:
            raise ValueError(stage)
        return stage, state.get("operation"), int(state.get("line") or 0)
    except (ValueError, KeyError, TypeError):
        log.warning("shopify.backfill.bad_cursor", extra={"cursor": cursor[:200]})
        return CUSTOMERS, None, 0


class ShopifyBulkSource:
    """Reads one shop's customers and orders through Bulk Operations."""

    def __init__(self, client: AdminClient, *, page_size: int = DEFAULT_PAGE_SIZE,
                 poll_interval: float = 2.0, download: HttpClient | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.page_size = page_size
        self.poll_interval = poll_interval
        self.download = download
        self.sleep = sleep
        # For the runner's progress record (BackfillRun.bulk_operation_id / result_url).
        self.operation_id: str | None = None
        self.result_url: str | None = None
        self.skipped = 0

    def total(self) -> int | None:
        try:
            data = self.client.execute(COUNTS_QUERY)
        except GraphQLError as exc:  # an older API version or a missing scope: no bar total
            log.info("shopify.backfill.no_counts", extra={"shop": self.client.shop_domain,
                                                          "error": str(exc)})
            return None
        counts = [(data.get(key) or {}).get("count") for key in ("customersCount", "ordersCount")]
        return sum(int(c) for c in counts) if all(c is not None for c in counts) else None

    def pages(self, resume_cursor: str | None) -> Iterator[Page]:
        stage, operation_id, line = decode_cursor(resume_cursor)
        for current in STAGES[STAGES.index(stage):]:
            if current != stage:
                operation_id, line = None, 0
            yield from self._stage_pages(current, operation_id, line)

    # -- one stage: run (or find) the bulk operation, then stream its file ----------------

    def _stage_pages(self, stage: str, operation_id: str | None, line: int) -> Iterator[Page]:
        if operation_id is not None:
            existing = get_bulk_operation(self.client, operation_id)
            if existing is None or existing.status in ("FAILED", "CANCELED", "EXPIRED"):
                log.warning("shopify.backfill.operation_gone",
                            extra={"shop": self.client.shop_domain, "operation": operation_id,
                                   "status": existing.status if existing else None})
                operation_id, line = None, 0
        if operation_id is None:
            operation_id = start_bulk_query(self.client, BULK_QUERIES[stage]).id
            line = 0
        self.operation_id, self.result_url = operation_id, None
        # Checkpoint the operation id at once, so a restart waits for it instead of
        # starting (and paying for) a second one.
        yield Page(records=[], cursor=encode_cursor(stage, operation_id, line), units=0)

        operation: BulkOperation | None = None
        for operation in watch_bulk_operation(self.client, operation_id,
                                              interval=self.poll_interval, sleep=self.sleep):
            if operation.status != "COMPLETED":  # a heartbeat page while Shopify works
                yield Page(records=[], cursor=encode_cursor(stage, operation_id, line), units=0)
        assert operation is not None
        self.result_url = operation.url
        if not operation.url:  # a completed operation with no objects has no file
            return
        log.info("shopify.backfill.streaming", extra={
            "shop": self.client.shop_domain, "stage": stage, "operation": operation_id,
            "objects": operation.object_count, "from_line": line})
        rows = stream_jsonl(operation.url, skip_lines=line, http=self.download)
        if stage == CUSTOMERS:
            yield from self._customer_pages(rows, operation_id, line)
        else:
            yield from self._order_pages(rows, operation_id, line)

    def _customer_pages(self, rows: Iterator[dict[str, Any]], operation_id: str,
                        line: int) -> Iterator[Page]:
        records: list[Record] = []
        units = 0
        for row in rows:
            line += 1
            units += 1
            record = self._convert(gql.customer, row)
            if record is not None:
                records.append(record)
            if units >= self.page_size:
                yield Page(records, encode_cursor(CUSTOMERS, operation_id, line), units)
                records, units = [], 0
        if units:
            yield Page(records, encode_cursor(CUSTOMERS, operation_id, line), units)

    def _order_pages(self, rows: Iterator[dict[str, Any]], operation_id: str,
                     line: int) -> Iterator[Page]:
        # Orders of the page being built, in file order, with their line item rows.
        pending: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        flushed_through = line  # lines fully covered by pages already yielded
        current: list[dict[str, Any]] | None = None

        def page(end_line: int) -> Page:
            records: list[Record] = []
            for node, lines in pending.values():
                record = self._convert(gql.order, node, lines)
                if record is not None:
                    records.append(record)
            done = Page(records, encode_cursor(ORDERS, operation_id, end_line), len(pending))
            pending.clear()
            return done

        for row in rows:
            parent = row.get(BULK_PARENT_KEY)
            if parent is None:
                # A new order starts: the page so far is complete, children and all.
                if len(pending) >= self.page_size:
                    yield page(line)
                    flushed_through = line
                current = []
                pending[row.get("id") or f"line:{line}"] = (row, current)
            elif parent in pending:
                child_id = row.get("id")
                if not child_id or "/LineItem/" in child_id:  # other children: not asked for
                    pending[parent][1].append(row)
            else:
                raise BulkFileError(
                    f"line {line + 1} belongs to {parent}, which is not among the orders read "
                    f"since line {flushed_through}; the bulk file is not grouped")
            line += 1
        if pending:
            yield page(line)

    def _convert(self, convert, *args) -> Record | None:
        try:
            return convert(*args)
        except PayloadError as exc:
            # One malformed node must not stop a history import; it is logged and counted.
            self.skipped += 1
            node_id = args[0].get("id") if args and isinstance(args[0], dict) else None
            log.warning("shopify.backfill.bad_record", extra={
                "shop": self.client.shop_domain, "node": node_id, "error": str(exc)})
            return None


__all__ = ["BulkOperationFailed", "ShopifyBulkSource"]
