"""Identity: which profile a shopper is, and keeping that profile up to date.

A shopper is found by platform customer id first, else by normalized email (`normalize_email`).
A shopper known only by email (a guest order or checkout) gets a guest profile, with no
platform id; when a registered customer with the same email appears, the guest profile is
claimed (it becomes theirs) or, if they already have one, merged into it (`_merge`).

Also here: marketing consent changes and the platform's deletion of a customer. Every lookup
goes through per-batch caches that `Identity` keeps in step with its own writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import aliased

from app import events
from app.db import utcnow
from app.profiles import is_stale
from app.profiles.models import NOT_SUBSCRIBED, Cart, Customer, Order, TimelineEvent
from app.profiles.timeline import Timeline
from app.profiles.writer import UPDATE_CUSTOMER, BatchWriter, among_values
from connectors.records import CustomerDeleted, CustomerRecord, MarketingConsentRecord

log = logging.getLogger(__name__)

_C = Customer.__table__

# What the batch caches hold for a customer: (id, platform_updated_at, email_normalized,
# email_marketing_updated_at).
_CustomerRow = tuple[int, datetime | None, str | None, datetime | None]
# Profile columns an undated copy of a customer (embedded in an order) may fill when empty.
_FILLABLE = ("email", "email_normalized", "first_name", "last_name", "phone", "city",
             "country_code", "tags", "account_state", "platform_created_at")
# Every column a new profile row is inserted with (one shape, so inserts go as executemany).
_CUSTOMER_INSERT_KEYS = ("platform_customer_id", *_FILLABLE, "platform_updated_at",
                         "email_marketing", "email_marketing_updated_at")
_FILL_MISSING: dict[frozenset[str], Any] = {}


def normalize_email(email: str | None) -> str | None:
    """The form emails are matched in: trimmed, lower case; None if it is not an address."""
    if not email:
        return None
    email = email.strip().lower()
    return email if "@" in email else None


def _fill_missing_statement(keys: frozenset[str]):
    """UPDATE that sets each column only where it is NULL (a copy without a timestamp).

    Rows with nothing missing are not matched, so PostgreSQL writes no new row version."""
    stmt = _FILL_MISSING.get(keys)
    if stmt is None:
        ordered = sorted(keys)
        stmt = UPDATE_CUSTOMER.where(or_(*[_C.c[key].is_(None) for key in ordered])).values({
            key: func.coalesce(_C.c[key], bindparam(f"v_{key}", type_=_C.c[key].type))
            for key in ordered
        })
        _FILL_MISSING[keys] = stmt
    return stmt


class Identity:
    """The batch's profiles: lookups, upserts, guest claims and merges.

    `flush_all()` must send every queued write and timeline row (a merge or a consent change
    works on what the database holds); `forget_rows()` must drop the other modules' cached
    rows that name a profile (a merge moves orders and carts to another profile).
    """

    def __init__(self, writer: BatchWriter, timeline: Timeline, *,
                 flush_all: Callable[[], None], forget_rows: Callable[[], None]) -> None:
        self.writer = writer
        self.timeline = timeline
        self.shop_id = writer.shop_id
        self._flush_all = flush_all
        self._forget_rows = forget_rows
        # Per-batch caches of what the database holds, kept in step with our own writes.
        # A key in a `*_known` set with no cache entry means "not in the database".
        self._customers: dict[str, _CustomerRow] = {}
        self._customers_known: set[str] = set()
        self._by_email: dict[str, int | None] = {}   # email → best profile (registered first)
        self._guests: dict[str, int | None] = {}     # email → oldest guest profile
        # customer id → fillable columns known to be empty (for profiles with no timestamp).
        self._missing: dict[int, frozenset[str]] = {}

    # -- reading ahead --------------------------------------------------------------

    def prefetch(self, platform_ids: set[str], emails: set[str],
                 emails_if_new: dict[str, str]) -> None:
        """Cache the profiles with these platform ids, then those with these emails, and
        `emails_if_new[platform_id]` for each platform id that found no profile."""
        for among in among_values(self.writer.conn, _C.c.platform_customer_id, platform_ids):
            self._select_customers(among)
        self._customers_known |= platform_ids
        self._prefetch_emails(emails | {email_n for pid, email_n in emails_if_new.items()
                                        if pid not in self._customers})

    def _select_customers(self, *conditions) -> None:
        """Cache the matching profiles: identity, version stamps and which columns are empty."""
        for pid, cid, updated, email_n, consent_at, *fillable in self.writer.exec(
            select(_C.c.platform_customer_id, _C.c.id, _C.c.platform_updated_at,
                   _C.c.email_normalized, _C.c.email_marketing_updated_at,
                   *[_C.c[name] for name in _FILLABLE])
            .where(_C.c.shop_id == self.shop_id, *conditions)
        ):
            self._customers[pid] = (cid, updated, email_n, consent_at)
            self._missing[cid] = frozenset(
                name for name, value in zip(_FILLABLE, fillable, strict=True) if value is None
            )

    def _prefetch_emails(self, emails: set[str]) -> None:
        found: dict[str, list[tuple[bool, int]]] = {}
        for among in among_values(self.writer.conn, _C.c.email_normalized, emails):
            for email_n, cid, pid in self.writer.exec(
                select(_C.c.email_normalized, _C.c.id, _C.c.platform_customer_id)
                .where(_C.c.shop_id == self.shop_id, among)
            ):
                found.setdefault(email_n, []).append((pid is None, cid))
        for email_n in emails:
            rows = sorted(found.get(email_n, ()))
            self._by_email[email_n] = rows[0][1] if rows else None
            guests = [cid for is_guest, cid in rows if is_guest]
            self._guests[email_n] = guests[0] if guests else None

    def forget(self) -> None:
        """Drop every cached profile: identity changed under the cache (a guest claimed or
        merged, a savepoint rolled back), so read afresh."""
        self._customers.clear()
        self._customers_known.clear()
        self._missing.clear()
        self._by_email.clear()
        self._guests.clear()

    def _forget_email(self, *emails: str | None) -> None:
        for email_n in emails:
            if email_n:
                self._by_email.pop(email_n, None)
                self._guests.pop(email_n, None)

    # -- profiles -------------------------------------------------------------------

    def _customer_row(self, platform_id: str) -> _CustomerRow | None:
        if platform_id not in self._customers and platform_id not in self._customers_known:
            self.writer.flush_customer_inserts()
            self._select_customers(_C.c.platform_customer_id == platform_id)
        return self._customers.get(platform_id)

    def upsert_customer(self, rec: CustomerRecord) -> int | None:
        """The profile for a customer record, created or brought up to date: its id."""
        if not rec.platform_id:
            return self.customer_for_email(rec.email, rec)
        email_n = normalize_email(rec.email)
        row = self._customer_row(rec.platform_id)
        if row is None:
            return self._insert_customer(rec, email_n)

        customer_id, stored_updated_at, stored_email, stored_consent_at = row
        if is_stale(rec.updated_at, stored_updated_at):
            return customer_id
        if rec.updated_at is None and stored_updated_at is not None:
            # An undated copy (embedded in an order) of a profile the customers/* topics keep:
            # it identifies the shopper and has nothing newer to say.
            return customer_id
        values = self._customer_values(rec)
        if values.get("email_marketing") and is_stale(
            rec.email_marketing_updated_at, stored_consent_at
        ):
            values.pop("email_marketing", None)
            values.pop("email_marketing_updated_at", None)
        if not values:
            return customer_id
        writer = self.writer
        if rec.updated_at is None:
            # Without a timestamp (a copy embedded in an order) only fill what is missing.
            missing = self._missing.get(customer_id)
            if missing is not None:  # known for every cached profile: skip what is filled
                values = {k: v for k, v in values.items() if k in missing}
                if not values:
                    return customer_id
                self._missing[customer_id] = missing - values.keys()
            queued = writer.customer_inserts.get(customer_id)
            if queued is not None:
                queued.update({k: v for k, v in values.items() if queued.get(k) is None})
            else:
                writer.exec(_fill_missing_statement(frozenset(values)),
                            {"_id": customer_id, **{f"v_{k}": v for k, v in values.items()}})
            new_email = None if stored_email else email_n
            values = {"email_normalized": new_email} if new_email else {}
        else:
            new_email = values.get("email_normalized")
            if new_email and new_email != stored_email:
                writer.flush_customer_inserts()
                writer.exec(UPDATE_CUSTOMER, {"_id": customer_id, **values})
            else:
                # Nothing later in the batch reads these columns: send them with the others.
                update_row = writer.customer_updates.setdefault(customer_id, {"_id": customer_id})
                update_row.update(values)
            if customer_id in self._missing:
                self._missing[customer_id] -= values.keys()
        self._customers[rec.platform_id] = (
            customer_id,
            values.get("platform_updated_at", stored_updated_at),
            values.get("email_normalized", stored_email),
            values.get("email_marketing_updated_at", stored_consent_at),
        )
        if new_email and new_email != stored_email:
            self._forget_email(stored_email, new_email)
            guest_id = self._guest_id(new_email)
            if guest_id is not None and guest_id != customer_id:
                self._merge(guest_id, into=customer_id)
        return customer_id

    def _insert_customer(self, rec: CustomerRecord, email_n: str | None) -> int:
        guest_id = self._guest_id(email_n)
        if guest_id is not None:
            # A guest known from orders or checkouts has registered: same person.
            self.writer.flush()
            self.writer.exec(UPDATE_CUSTOMER, {"_id": guest_id,
                                               "platform_customer_id": rec.platform_id,
                                               **self._customer_values(rec)})
            self.forget()
            self.timeline.add(guest_id, events.CUSTOMER_CREATED, rec.platform_id,
                              rec.created_at or utcnow())
            return guest_id
        values = self._customer_values(rec)
        values.setdefault("email_marketing", NOT_SUBSCRIBED)
        values["platform_customer_id"] = rec.platform_id
        now = utcnow()
        customer_id = self._queue_customer(values, now)
        self._customers[rec.platform_id] = (customer_id, rec.updated_at, email_n,
                                            values.get("email_marketing_updated_at"))
        if email_n and email_n in self._by_email and self._by_email[email_n] is None:
            self._by_email[email_n] = customer_id  # no guest has this email (checked above)
        elif email_n:
            self._by_email.pop(email_n, None)
        self.timeline.add(customer_id, events.CUSTOMER_CREATED, rec.platform_id,
                          rec.created_at or now, fresh=True)
        return customer_id

    def _queue_customer(self, values: dict[str, Any], now: datetime) -> int:
        customer_id = self.writer.new_id(_C)
        row = {key: values.get(key) for key in _CUSTOMER_INSERT_KEYS}
        row.update(id=customer_id, shop_id=self.shop_id, created_at=now, updated_at=now)
        self.writer.customer_inserts[customer_id] = row
        self._missing[customer_id] = frozenset(k for k in _FILLABLE if row[k] is None)
        return customer_id

    def _customer_values(self, rec: CustomerRecord) -> dict[str, Any]:
        values: dict[str, Any] = {
            "email": rec.email,
            "email_normalized": normalize_email(rec.email),
            "first_name": rec.first_name,
            "last_name": rec.last_name,
            "phone": rec.phone,
            "city": rec.city,
            "country_code": rec.country_code,
            "tags": rec.tags,
            "account_state": rec.account_state,
            "platform_created_at": rec.created_at,
            "platform_updated_at": rec.updated_at,
        }
        if rec.email_marketing is not None:
            values["email_marketing"] = rec.email_marketing
            values["email_marketing_updated_at"] = rec.email_marketing_updated_at
        return {k: v for k, v in values.items() if v is not None}

    def _guest_id(self, email_n: str | None) -> int | None:
        if not email_n:
            return None
        if email_n not in self._guests:
            self.writer.flush_customer_inserts()
            self._guests[email_n] = self.writer.exec(
                select(_C.c.id).where(
                    _C.c.shop_id == self.shop_id,
                    _C.c.email_normalized == email_n,
                    _C.c.platform_customer_id.is_(None),
                ).order_by(_C.c.id).limit(1)
            ).scalar()
        return self._guests[email_n]

    def customer_for_email(self, email: str | None, rec: CustomerRecord | None = None,
                           *, create: bool = True,
                           seen_at: datetime | None = None) -> int | None:
        """The profile for a shopper known only by email (guest order, checkout).

        A new guest profile's `customer_created` fact is dated when the shopper was first
        seen (`seen_at`: the order's or checkout's time), so an imported past stays history.
        """
        email_n = normalize_email(email)
        if not email_n:
            return None
        if email_n not in self._by_email:
            self.writer.flush_customer_inserts()
            self._by_email[email_n] = self.writer.exec(
                select(_C.c.id).where(_C.c.shop_id == self.shop_id,
                                      _C.c.email_normalized == email_n)
                .order_by(_C.c.platform_customer_id.is_(None), _C.c.id).limit(1)
            ).scalar()
        existing = self._by_email[email_n]
        if existing is not None or not create:
            return existing
        values = self._customer_values(rec) if rec else {}
        values.update(email=email.strip() if email else None, email_normalized=email_n)
        values.setdefault("email_marketing", NOT_SUBSCRIBED)
        now = utcnow()
        customer_id = self._queue_customer(values, now)
        self._by_email[email_n] = customer_id
        self._guests[email_n] = customer_id
        first_seen = seen_at or (rec.created_at if rec else None) or now
        self.timeline.add(customer_id, events.CUSTOMER_CREATED, f"guest:{email_n}", first_seen,
                          fresh=True)
        return customer_id

    def _merge(self, guest_id: int, *, into: int) -> None:
        """Move a guest's orders, carts and timeline onto a registered profile."""
        self._flush_all()  # queued rows may still name the guest
        s = self.writer.session
        s.execute(update(Order).where(Order.customer_id == guest_id).values(customer_id=into))
        s.execute(update(Cart).where(Cart.customer_id == guest_id).values(customer_id=into))
        # Timeline facts the registered profile already has would collide: drop the guest's.
        theirs = aliased(TimelineEvent)
        s.execute(delete(TimelineEvent).where(
            TimelineEvent.customer_id == guest_id,
            select(theirs.id).where(theirs.customer_id == into,
                                    theirs.kind == TimelineEvent.kind,
                                    theirs.ref == TimelineEvent.ref).exists(),
        ))
        s.execute(update(TimelineEvent).where(TimelineEvent.customer_id == guest_id)
                  .values(customer_id=into))
        self.timeline.published = events.reassign_customer(
            s, self.shop_id, guest_id, into, self.timeline.published)
        # The merchant's notes and tags (app.customers) go along; a tag the profile already
        # has stays once. Plain SQL: the profile store imports no module above it.
        s.execute(text("UPDATE customer_notes SET customer_id = :into "
                       "WHERE customer_id = :guest"), {"into": into, "guest": guest_id})
        s.execute(text("UPDATE customer_tags SET customer_id = :into WHERE customer_id = :guest"
                       " AND tag_normalized NOT IN (SELECT tag_normalized FROM customer_tags"
                       " WHERE customer_id = :into)"), {"into": into, "guest": guest_id})
        s.execute(delete(Customer).where(Customer.id == guest_id))
        self.forget()
        self._forget_rows()
        self.writer.dirty_customers.discard(guest_id)
        self.writer.dirty_customers.add(into)
        log.info("profiles.guest_merged", extra={"shop_id": self.shop_id, "guest_id": guest_id,
                                                  "customer_id": into})

    # -- consent and deletion -------------------------------------------------------

    def apply_customer_deleted(self, rec: CustomerDeleted) -> None:
        self.writer.flush_customer_inserts()
        self.writer.exec(
            update(_C).where(_C.c.shop_id == self.shop_id,
                             _C.c.platform_customer_id == rec.platform_id,
                             _C.c.deleted_at.is_(None))
            .values(deleted_at=utcnow())
        )

    def apply_consent(self, rec: MarketingConsentRecord) -> None:
        if rec.customer_platform_id:
            customer_id = self.upsert_customer(
                CustomerRecord(platform_id=rec.customer_platform_id, email=rec.email)
            )
        else:
            customer_id = self.customer_for_email(rec.email)
        if customer_id is None:
            return
        self._flush_all()  # queued profile updates may carry consent too
        stored_at = self.writer.exec(
            select(_C.c.email_marketing_updated_at).where(_C.c.id == customer_id)
        ).scalar()
        if is_stale(rec.updated_at, stored_at):
            return
        self.writer.exec(UPDATE_CUSTOMER, {
            "_id": customer_id, "email_marketing": rec.email_marketing,
            "email_marketing_updated_at": rec.updated_at or utcnow(),
        })
        self._customers.clear()
        self._customers_known.clear()
        when = rec.updated_at or utcnow()
        self.timeline.add(customer_id, events.EMAIL_MARKETING_CHANGED,
                          f"{rec.email_marketing}:{when.isoformat()}", when,
                          {"email_marketing": rec.email_marketing})
