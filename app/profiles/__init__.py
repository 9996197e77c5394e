"""The profile store: a store's customers, orders and carts mirrored as one profile per shopper.

`store.ProfileStore` applies one batch of neutral records (`connectors.records`) inside one
transaction; the modules it is made of, each one concern:

- `writer`: the batch's connection and per-shop lock, ids for new rows, queued writes;
- `prefetch`: what a batch will look up, read up front in a few queries;
- `identity`: customer profiles: upsert, email and guest lookups, merging, consent, deletion;
- `orders`: orders and refunds, and the refund totals they leave behind;
- `carts`: carts and checkouts; `abandoned` marks idle ones abandoned;
- `timeline`: the per-profile timeline of facts, and the domain events new facts become;
- `figures`: per-customer figures (orders count, total spent, ...) derived from stored orders;
- `models`: the tables.

Rules that keep the mirror right whatever order deliveries come in:
- a record carrying an older platform `updated_at` than the stored one changes nothing
  (`is_stale`);
- refunds are stored by the platform's order id, so one may arrive before its order;
- per-customer figures are always recomputed from the stored orders, never incremented;
- identity: platform customer id first, else normalized email; a guest profile is claimed
  (or merged) when a registered customer with the same email appears.
"""

from __future__ import annotations

from datetime import datetime


def is_stale(incoming: datetime | None, stored: datetime | None) -> bool:
    """True when a record's version stamp is older than the stored row's: it changes nothing.

    A missing stamp on either side is never stale (undated copies are handled by the caller).
    """
    return incoming is not None and stored is not None and incoming < stored
