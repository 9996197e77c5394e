"""What a connector's history and "changed since" readers hand to the domain's sync runner.

A *source* reads one store's history from its platform and hands over neutral records
(connectors/records.py). The runner (app/sync/backfill.py, app/sync/reconcile.py) owns
transactions, progress and resumption; a source only reads. A source is built from plain
values (a client holding the store's URL and decrypted credentials, page sizes); the domain
decides which store and with what credentials (app/sync/sources.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.records import Record


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
