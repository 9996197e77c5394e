"""Shopify Bulk Operations: start a bulk query, wait for it, stream its JSONL result.

A bulk query runs on Shopify's side and leaves a JSONL file (one JSON object per line; a
nested connection's rows carry `__parentId`) at a signed URL valid for about a week. The file
can be gigabytes, so it is read with `requests`' `stream=True` + `iter_lines`, one line at a
time, and never held whole in memory. We ask for `groupObjects: true` so that a parent's
children follow it directly (the default became `false` in 2026-01): that is what lets an
order and its line items be joined while streaming.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import requests

from connectors.http import HttpClient, HttpError
from connectors.shopify.admin import AdminClient, AdminUnavailable, raise_for_user_errors

log = logging.getLogger(__name__)

RUN_QUERY = """
mutation RunBulkQuery($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}
"""

OPERATION = """
query BulkOperation($id: ID!) {
  node(id: $id) {
    ... on BulkOperation {
      id status errorCode objectCount rootObjectCount url partialDataUrl createdAt completedAt
    }
  }
}
"""

# The key Shopify adds to a nested connection's rows, naming the parent object's id.
BULK_PARENT_KEY = "__parentId"
DONE_STATES = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
# Result files are signed download URLs; a large one takes a while to stream.
DOWNLOAD_TIMEOUT = (10.0, 300.0)
DOWNLOAD_CHUNK_BYTES = 256 * 1024


class BulkOperationFailed(RuntimeError):
    """The bulk operation ended FAILED, CANCELED or EXPIRED, or vanished."""

    def __init__(self, message: str, status: str | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class BulkOperation:
    id: str
    status: str
    url: str | None = None
    object_count: int | None = None
    root_object_count: int | None = None
    error_code: str | None = None

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> BulkOperation:
        def count(key: str) -> int | None:
            value = node.get(key)
            return int(value) if value not in (None, "") else None

        return cls(id=node["id"], status=str(node.get("status") or ""),
                   url=node.get("url"), object_count=count("objectCount"),
                   root_object_count=count("rootObjectCount"), error_code=node.get("errorCode"))


def start_bulk_query(client: AdminClient, query: str) -> BulkOperation:
    """Start `query` as a bulk operation; raises UserErrors if Shopify refuses it."""
    data = client.execute(RUN_QUERY, {"query": query})
    payload = data.get("bulkOperationRunQuery") or {}
    raise_for_user_errors(payload)
    node = payload.get("bulkOperation")
    if not node:
        raise AdminUnavailable("bulkOperationRunQuery returned no operation")
    log.info("shopify.bulk.started", extra={"shop": client.shop_domain, "operation": node["id"]})
    return BulkOperation.from_node(node)


def get_bulk_operation(client: AdminClient, operation_id: str) -> BulkOperation | None:
    node = client.execute(OPERATION, {"id": operation_id}).get("node")
    return BulkOperation.from_node(node) if node else None


def watch_bulk_operation(client: AdminClient, operation_id: str, *, interval: float = 2.0,
                         max_interval: float = 30.0,
                         sleep: Callable[[float], None] = time.sleep) -> Iterator[BulkOperation]:
    """Poll the operation, yielding it after every poll; the last one yielded is COMPLETED.

    Raises BulkOperationFailed when it ends FAILED, CANCELED or EXPIRED, or no longer exists.
    A generator, so a caller can checkpoint (or show progress) between polls.
    """
    delay = interval
    while True:
        operation = get_bulk_operation(client, operation_id)
        if operation is None:
            raise BulkOperationFailed(f"bulk operation {operation_id} no longer exists")
        if operation.status in DONE_STATES and operation.status != "COMPLETED":
            raise BulkOperationFailed(
                f"bulk operation {operation_id} ended {operation.status}"
                + (f" ({operation.error_code})" if operation.error_code else ""),
                status=operation.status)
        yield operation
        if operation.status == "COMPLETED":
            return
        sleep(delay)
        delay = min(max_interval, delay * 1.5)


def wait_for_bulk_operation(client: AdminClient, operation_id: str, **kwargs: Any,
                            ) -> BulkOperation:
    """Block until the operation is COMPLETED (see watch_bulk_operation)."""
    *_, completed = watch_bulk_operation(client, operation_id, **kwargs)
    return completed


def stream_jsonl(url: str, *, skip_lines: int = 0, http: HttpClient | None = None,
                 ) -> Iterator[dict[str, Any]]:
    """Yield the objects of a JSONL result file, one line at a time, after `skip_lines` lines.

    Skipped lines are counted, not parsed. Blank lines count as lines (they never occur in
    Shopify's output, and counting them keeps line numbers equal to the file's).
    """
    http = http or HttpClient(timeout=DOWNLOAD_TIMEOUT)
    try:
        response = http.get(url, stream=True)
    except HttpError as exc:
        raise AdminUnavailable(f"could not download the bulk result: {exc}") from exc
    with response:
        lines = response.iter_lines(chunk_size=DOWNLOAD_CHUNK_BYTES)
        try:
            for _ in range(skip_lines):
                if next(lines, None) is None:
                    return
            for raw in lines:
                yield orjson.loads(raw) if raw else {}
        except (requests.RequestException, OSError) as exc:
            raise AdminUnavailable(f"the bulk result download broke off: "
                                   f"{exc.__class__.__name__}") from exc
