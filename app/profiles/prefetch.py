"""Reading ahead: what a batch of records will look up, loaded in a few queries.

`prefetch` scans the records for the keys they will be matched by (`wanted`), then has each
module load its cache in one query per kind of key (`= ANY(:array)` on PostgreSQL), rather
than one query per record. What is not prefetched is still looked up, one row at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.profiles.carts import Carts
from app.profiles.identity import Identity, normalize_email
from app.profiles.orders import Orders
from connectors.records import CartRecord, CustomerRecord, OrderRecord, Record


@dataclass(slots=True)
class Wanted:
    """The keys a batch's records will be matched by."""

    order_ids: set[str]
    newest: dict[str, datetime]  # platform order id → its newest `updated_at` in the batch
    customer_ids: set[str]
    emails: set[str]  # of shoppers with no platform id
    emails_if_new: dict[str, str]  # platform id → email, looked up if the id finds nothing
    carts: set[tuple[str, str]]  # (kind, token)
    checkout_tokens: set[str]


def wanted(records: list[Record]) -> Wanted:
    """The keys `records` will look up."""
    order_ids: set[str] = set()
    newest_in_batch: dict[str, datetime] = {}
    customer_ids: set[str] = set()
    emails: set[str] = set()
    carts: set[tuple[str, str]] = set()
    checkout_tokens: set[str] = set()

    # Emails are looked up only for shoppers the platform id does not find (a new
    # profile may be a guest who registered) and for guests: in a history import nearly
    # every order's customer is already stored, and needs no email lookup at all.
    emails_if_new: dict[str, str] = {}

    def note_customer(customer: CustomerRecord | None, email: str | None) -> None:
        email_n = normalize_email(customer.email if customer else None) or \
            normalize_email(email)
        if customer is not None and customer.platform_id:
            customer_ids.add(customer.platform_id)
            if email_n:
                emails_if_new[customer.platform_id] = email_n
        elif email_n:
            emails.add(email_n)

    for rec in records:
        if isinstance(rec, OrderRecord):
            order_ids.add(rec.platform_id)
            if rec.updated_at is not None:
                newest = newest_in_batch.get(rec.platform_id)
                if newest is None or rec.updated_at > newest:
                    newest_in_batch[rec.platform_id] = rec.updated_at
            note_customer(rec.customer, rec.email)
        elif isinstance(rec, CustomerRecord):
            note_customer(rec, None)
        elif isinstance(rec, CartRecord):
            note_customer(rec.customer, rec.email)
            carts.add((rec.kind, rec.token))
            if rec.kind == "checkout" and rec.cart_token:
                carts.add(("cart", rec.cart_token))
            if rec.kind == "checkout":
                checkout_tokens.add(rec.token)
    return Wanted(order_ids, newest_in_batch, customer_ids, emails, emails_if_new, carts,
                  checkout_tokens)


def prefetch(records: list[Record], *, identity: Identity, orders: Orders,
             carts: Carts) -> None:
    """Load into the modules' caches what `records` will look up."""
    keys = wanted(records)
    orders.prefetch(keys.order_ids, keys.newest)
    identity.prefetch(keys.customer_ids, keys.emails, keys.emails_if_new)
    carts.prefetch(keys.carts)
    orders.prefetch_checkouts(keys.checkout_tokens)
