"""Acting on app/uninstalled and Shopify's three privacy requests.

The webhook receiver stores these deliveries in the inbox like any other (the durable record
that Shopify's request arrived), but marks them DISPATCHED instead of pending so the profile
drain never touches them, and enqueues `jobs.compliance.handle_lifecycle_delivery(inbox_id)`.
`handle_delivery` below does the work in one transaction, records it in `compliance_audit`
(without personal data) and marks the row processed, so a job that runs twice does nothing
the second time. A periodic sweep re-enqueues rows whose job was lost.

- app/uninstalled: the shop is marked uninstalled and its credentials cleared; its data stays
  (Shopify sends shop/redact 48 hours later if the merchant does not come back).
- customers/data_request: a JSON export of every row Sticky holds on the customer is stored
  for the merchant (`/api/compliance/exports`).
- customers/redact: the customer's profiles, carts, timeline, domain events, the
  merchant's notes and tags about them and the referrals naming them are deleted;
  their orders are kept for the store's figures but stripped of personal data; exports, and
  inbox deliveries that mention the customer, are deleted (the request's own payload is
  scrubbed).
- shop/redact: every row the shop owns is deleted, then the shop itself.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from flask import current_app
from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from app.compliance.models import ComplianceAudit, ComplianceExport
from app.compliance.requests import customer_ref, failure_reason, id_list, read_body
from app.compliance.shop_redact import redact_shop
from app.customers.models import CustomerNote, CustomerTag
from app.db import utcnow
from app.events import erase_customers, history
from app.inbox import failures
from app.inbox.models import FAILED, PROCESSED, InboxEntry
from app.loyalty.privacy import loyalty_rows
from app.loyalty.referral_privacy import erase_referrals, referrals_naming
from app.profiles.identity import normalize_email
from app.profiles.models import Cart, Customer, Order, OrderLine, Refund, TimelineEvent
from app.shops.models import Shop
from app.shops.tokens import clear_credentials
from connectors import fields

log = logging.getLogger(__name__)

DISPATCHED = "dispatched"  # inbox status: handled by a lifecycle job, not by the drain
UNINSTALLED = "app/uninstalled"
DATA_REQUEST = "customers/data_request"
CUSTOMER_REDACT = "customers/redact"
SHOP_REDACT = "shop/redact"
COMPLIANCE_TOPICS = frozenset({DATA_REQUEST, CUSTOMER_REDACT, SHOP_REDACT})
LIFECYCLE_TOPICS = COMPLIANCE_TOPICS | {UNINSTALLED}
EXPORT_FORMAT = "sticky.customer-data.v1"
SCRUBBED_PAYLOAD = b'{"redacted": true}'


def subject_hash(shop_domain: str, customer_id: Any) -> str:
    """A keyed hash of a customer id: lets the audit say who a request was about only to
    someone who already knows the id (and holds SECRET_KEY)."""
    key = current_app.config["SECRET_KEY"].encode()
    message = f"{shop_domain}|{customer_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


# --- dispatching -----------------------------------------------------------------------------

def record_ignored(session: Session, *, topic: str, shop_domain: str, delivery_key: str,
                   note: str) -> None:
    """Audit a lifecycle delivery for a store Sticky holds nothing for."""
    now = utcnow()
    session.add(ComplianceAudit(topic=topic, shop_domain=shop_domain, delivery_key=delivery_key,
                                status="ignored", counts={}, note=note, received_at=now,
                                completed_at=now))


def handle_delivery(session: Session, inbox_id: int, *, batch_size: int = 500) -> dict[str, Any]:
    """Act on one dispatched delivery. Idempotent: a handled or vanished row is skipped."""
    with session.begin():
        row = session.execute(
            select(InboxEntry.shop_id, InboxEntry.topic, InboxEntry.status)
            .where(InboxEntry.id == inbox_id)
        ).first()
    if row is None:
        return {"inbox_id": inbox_id, "skipped": "delivery no longer stored"}
    if row.status != DISPATCHED:
        return {"inbox_id": inbox_id, "skipped": f"delivery is {row.status}"}
    if row.topic == CUSTOMER_REDACT:
        # Apply what is already waiting first, so nothing re-creates the customer afterwards.
        from app.inbox.service import drain
        from connectors import normalizer_for

        drain(session, row.shop_id, normalizer_for("shopify"), batch_size=batch_size)

    with session.begin():
        from app.profiles.writer import lock_shop  # the profile store's per-shop lock

        lock_shop(session, row.shop_id)
        entry = session.execute(
            select(InboxEntry).where(InboxEntry.id == inbox_id).with_for_update()
        ).scalar_one_or_none()
        if entry is None or entry.status != DISPATCHED:
            return {"inbox_id": inbox_id, "skipped": "handled meanwhile"}
        shop = session.get(Shop, entry.shop_id)
        assert shop is not None  # the inbox row cascades with its shop
        topic, received_at, delivery_key = entry.topic, entry.received_at, entry.delivery_key
        audit = {"topic": topic, "shop_domain": shop.domain, "store_id": shop.id,
                 "delivery_key": delivery_key, "received_at": received_at}
        try:
            # A savepoint: whatever the request's body makes fail is undone, and the request
            # ends failed with its reason instead of being retried forever.
            with session.begin_nested():
                counts, subject = _act(session, shop, entry, received_at)
        except Exception as exc:
            if failures.is_transient(exc):
                raise  # the database, not the request: the job is retried
            reason = failure_reason(exc)
            entry.status, entry.error, entry.processed_at = FAILED, reason, utcnow()
            entry.attempts += 1
            session.add(ComplianceAudit(**audit, status="failed", counts={}, note=reason))
            log.warning("shopify.lifecycle.unreadable", extra={"inbox_id": inbox_id,
                                                             "topic": topic, "reason": reason})
            return {"inbox_id": inbox_id, "topic": topic, "failed": reason}
        if topic != SHOP_REDACT:  # a shop/redact has deleted the row with the shop
            entry.status, entry.processed_at, entry.error = PROCESSED, utcnow(), None
            entry.attempts += 1
            if topic in COMPLIANCE_TOPICS:
                entry.payload = SCRUBBED_PAYLOAD  # the audit row is the record now
        session.add(ComplianceAudit(**audit, subject_hash=subject, status="done", counts=counts))
    log.info("shopify.lifecycle.handled", extra={"inbox_id": inbox_id, "topic": topic,
                                                 "counts": counts})
    return {"inbox_id": inbox_id, "topic": topic, "counts": counts}


def _act(session: Session, shop: Shop, entry: InboxEntry,
         received_at: datetime) -> tuple[dict[str, Any], str | None]:
    payload = read_body(entry.payload)
    if entry.topic == UNINSTALLED:
        return uninstall(shop, received_at), None
    if entry.topic == DATA_REQUEST:
        return export_customer(session, shop, payload, received_at)
    if entry.topic == CUSTOMER_REDACT:
        return redact_customer(session, shop, payload, keep_inbox_id=entry.id)
    return redact_shop(session, shop), None


def stale_dispatched(session: Session, older_than: datetime) -> list[int]:
    return list(session.execute(
        select(InboxEntry.id).where(InboxEntry.status == DISPATCHED,
                                    InboxEntry.received_at < older_than)
        .order_by(InboxEntry.id).limit(1000)
    ).scalars())


# --- app/uninstalled --------------------------------------------------------------------------

def uninstall(shop: Shop, received_at: datetime) -> dict[str, Any]:
    if shop.installed_at and shop.installed_at > received_at:
        # The store reinstalled after this uninstall was sent: the newer install stands.
        return {"skipped": "reinstalled since"}
    shop.status = "uninstalled"
    shop.uninstalled_at = received_at
    clear_credentials(shop)
    return {"uninstalled": 1}


# --- finding a customer's rows ----------------------------------------------------------------

class _Subject:
    """Every stored row that belongs to one customer of one shop."""

    def __init__(self, session: Session, shop: Shop, payload: dict[str, Any],
                 order_ids_key: str) -> None:
        self.platform_id, self.email, self.phone = customer_ref(payload)
        self.hash = subject_hash(shop.domain, self.platform_id or normalize_email(self.email))
        email_n = normalize_email(self.email)
        matches = []
        if self.platform_id:
            matches.append(Customer.platform_customer_id == self.platform_id)
        if email_n:
            matches.append(Customer.email_normalized == email_n)
        self.customers = list(session.execute(
            select(Customer).where(Customer.shop_id == shop.id, or_(*matches))
            .order_by(Customer.id)).scalars())
        self.customer_ids = [c.id for c in self.customers]
        self.emails = {e.lower() for e in [self.email, *[c.email for c in self.customers]] if e}
        self.phones = {p for p in [self.phone, *[c.phone for c in self.customers]] if p}
        requested = id_list(payload.get(order_ids_key), order_ids_key)
        order_match = [Order.platform_order_id.in_(requested)] if requested else []
        if self.customer_ids:
            order_match.append(Order.customer_id.in_(self.customer_ids))
        if self.emails:
            order_match.append(func.lower(Order.email).in_(self.emails))
        self.orders = list(session.execute(
            select(Order).where(Order.shop_id == shop.id, or_(*order_match))
            .order_by(Order.placed_at, Order.id)).scalars()) if order_match else []
        platform_order_ids = sorted({o.platform_order_id for o in self.orders} | set(requested))
        self.refunds = list(session.execute(
            select(Refund).where(Refund.shop_id == shop.id,
                                 Refund.platform_order_id.in_(platform_order_ids))
            .order_by(Refund.refunded_at, Refund.id)).scalars()) if platform_order_ids else []
        cart_match = []
        if self.customer_ids:
            cart_match.append(Cart.customer_id.in_(self.customer_ids))
        if self.emails:
            cart_match.append(func.lower(Cart.email).in_(self.emails))
        self.carts = list(session.execute(
            select(Cart).where(Cart.shop_id == shop.id, or_(*cart_match))
            .order_by(Cart.id)).scalars()) if cart_match else []
        self.timeline = list(session.execute(
            select(TimelineEvent).where(TimelineEvent.shop_id == shop.id,
                                        TimelineEvent.customer_id.in_(self.customer_ids))
            .order_by(TimelineEvent.occurred_at, TimelineEvent.id)).scalars()
        ) if self.customer_ids else []
        # What the merchant wrote about them: free text about a person is personal data.
        self.notes = list(session.execute(
            select(CustomerNote).where(CustomerNote.shop_id == shop.id,
                                       CustomerNote.customer_id.in_(self.customer_ids))
            .order_by(CustomerNote.created_at, CustomerNote.id)).scalars()
        ) if self.customer_ids else []
        self.tags = list(session.execute(
            select(CustomerTag).where(CustomerTag.shop_id == shop.id,
                                      CustomerTag.customer_id.in_(self.customer_ids))
            .order_by(CustomerTag.created_at, CustomerTag.id)).scalars()
        ) if self.customer_ids else []
        self.referrals = referrals_naming(session, shop.id, self.customer_ids, self.emails)

    def needles(self) -> list[str]:
        """Strings whose presence in a stored payload ties it to this customer."""
        found = set(self.emails) | {e for e in [self.email] if e} | self.phones
        if self.platform_id:
            found.add(self.platform_id)
        found |= {c.platform_customer_id for c in self.customers if c.platform_customer_id}
        return sorted(found)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _row(obj: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a row, JSON-ready: the export shows all Sticky holds, not a selection."""
    return {column.key: _plain(getattr(obj, column.key))
            for column in obj.__table__.columns if column.key not in skip}


# --- customers/data_request -------------------------------------------------------------------

def export_customer(session: Session, shop: Shop, payload: dict[str, Any],
                    received_at: datetime) -> tuple[dict[str, int], str]:
    subject = _Subject(session, shop, payload, "orders_requested")
    order_ids = [o.id for o in subject.orders]
    lines = list(session.execute(
        select(OrderLine).where(OrderLine.shop_id == shop.id, OrderLine.order_id.in_(order_ids))
        .order_by(OrderLine.order_id, OrderLine.id)).scalars()) if order_ids else []
    lines_by_order: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        lines_by_order.setdefault(line.order_id, []).append(_row(line))
    events = list(history(session, shop.id, customers=subject.customer_ids))
    members, points = loyalty_rows(session, shop.id, subject.customer_ids)
    request_block = payload.get("data_request")
    request_id = fields.ident(request_block.get("id"), "data_request.id") \
        if isinstance(request_block, dict) else None
    content = {
        "format": EXPORT_FORMAT,
        "shop": shop.domain,
        "data_request_id": _plain(request_id),
        "requested_at": received_at.isoformat(),
        "generated_at": utcnow().isoformat(),
        "requested_customer": {"id": subject.platform_id, "email": subject.email,
                               "phone": subject.phone},
        "orders_requested": id_list(payload.get("orders_requested"), "orders_requested"),
        "profiles": [_row(c) for c in subject.customers],
        "consent": [{"profile_id": c.id, "email_marketing": c.email_marketing,
                     "updated_at": _plain(c.email_marketing_updated_at)}
                    for c in subject.customers],
        "orders": [{**_row(o), "lines": lines_by_order.get(o.id, [])} for o in subject.orders],
        "refunds": [_row(r) for r in subject.refunds],
        "carts": [_row(c) for c in subject.carts],
        "timeline": [_row(t) for t in subject.timeline],
        "notes": [_row(n) for n in subject.notes],
        "merchant_tags": [_row(t) for t in subject.tags],
        "referrals": [_row(r) for r in subject.referrals],
        "events": [{**asdict(e), "occurred_at": e.occurred_at.isoformat()} for e in events],
        "loyalty_members": [_row(m) for m in members],
        "points_ledger": [_row(entry) for entry in points],
    }
    counts = {"profiles": len(subject.customers), "orders": len(subject.orders),
              "order_lines": len(lines), "refunds": len(subject.refunds),
              "carts": len(subject.carts), "timeline": len(subject.timeline),
              "notes": len(subject.notes), "merchant_tags": len(subject.tags),
              "referrals": len(subject.referrals),
              "events": len(events), "loyalty_members": len(members),
              "points_ledger": len(points)}
    session.add(ComplianceExport(shop_id=shop.id, data_request_id=content["data_request_id"]
                                 and str(content["data_request_id"]),
                                 subject_hash=subject.hash, counts=counts, content=content,
                                 requested_at=received_at))
    return counts, subject.hash


# --- customers/redact -------------------------------------------------------------------------

def _payload_mentions(session: Session, shop_id: int, needle: str) -> list[int]:
    """Inbox rows of the shop whose stored bytes contain `needle` (candidates; confirmed by
    the caller)."""
    data = needle.encode()
    if session.get_bind().dialect.name == "postgresql":
        condition = text("position(CAST(:needle AS bytea) in inbox.payload) > 0")
    else:
        condition = text("instr(inbox.payload, :needle) > 0")
    return list(session.execute(
        select(InboxEntry.id).where(InboxEntry.shop_id == shop_id,
                                    condition.bindparams(needle=data))).scalars())


def _mentions(payload: bytes, needles: list[str]) -> bool:
    lowered = payload.lower()
    for needle in needles:
        if needle.isdigit():
            # A numeric id must stand alone, not inside a longer number.
            if re.search(rb"(?<!\d)" + needle.encode() + rb"(?!\d)", payload):
                return True
        elif needle.lower().encode() in lowered:
            return True
    return False


def redact_customer(session: Session, shop: Shop, payload: dict[str, Any], *,
                    keep_inbox_id: int) -> tuple[dict[str, int], str]:
    subject = _Subject(session, shop, payload, "orders_to_redact")
    order_ids = [o.id for o in subject.orders]
    platform_order_ids = sorted({o.platform_order_id for o in subject.orders})
    counts: dict[str, int] = {}
    counts["orders_scrubbed"] = session.execute(
        update(Order).where(Order.shop_id == shop.id, Order.id.in_(order_ids))
        .values(email=None, landing_site=None, customer_id=None, shipping_address_hash=None,
                billing_address_hash=None)
    ).rowcount if order_ids else 0
    counts["refund_notes_scrubbed"] = session.execute(
        update(Refund).where(Refund.shop_id == shop.id,
                             Refund.platform_order_id.in_(platform_order_ids),
                             Refund.note.is_not(None))
        .values(note=None)
    ).rowcount if platform_order_ids else 0
    counts["carts_deleted"] = session.execute(
        delete(Cart).where(Cart.shop_id == shop.id, Cart.id.in_([c.id for c in subject.carts]))
    ).rowcount if subject.carts else 0
    counts["timeline_deleted"] = session.execute(
        delete(TimelineEvent).where(TimelineEvent.shop_id == shop.id,
                                    TimelineEvent.customer_id.in_(subject.customer_ids))
    ).rowcount if subject.customer_ids else 0
    counts["events_deleted"] = erase_customers(session, shop.id, subject.customer_ids)
    # Explicit, not left to ON DELETE CASCADE: the audit counts them.
    counts["notes_deleted"] = session.execute(
        delete(CustomerNote).where(CustomerNote.shop_id == shop.id,
                                   CustomerNote.customer_id.in_(subject.customer_ids))
    ).rowcount if subject.customer_ids else 0
    counts["tags_deleted"] = session.execute(
        delete(CustomerTag).where(CustomerTag.shop_id == shop.id,
                                  CustomerTag.customer_id.in_(subject.customer_ids))
    ).rowcount if subject.customer_ids else 0
    counts["referrals_deleted"] = erase_referrals(session, shop.id, subject.customer_ids,
                                                  subject.emails)
    counts["profiles_deleted"] = session.execute(
        delete(Customer).where(Customer.shop_id == shop.id,
                               Customer.id.in_(subject.customer_ids))
    ).rowcount if subject.customer_ids else 0

    needles = subject.needles()
    exports = list(session.execute(
        select(ComplianceExport).where(ComplianceExport.shop_id == shop.id)).scalars())
    doomed_exports = [e.id for e in exports if e.subject_hash == subject.hash
                      or _mentions(orjson.dumps(e.content), needles)]
    counts["exports_deleted"] = session.execute(
        delete(ComplianceExport).where(ComplianceExport.id.in_(doomed_exports))
    ).rowcount if doomed_exports else 0

    candidates: set[int] = set()
    for needle in needles:
        candidates.update(_payload_mentions(session, shop.id, needle))
        if needle.lower() != needle:
            candidates.update(_payload_mentions(session, shop.id, needle.lower()))
    candidates.discard(keep_inbox_id)
    doomed = [entry_id for entry_id, body in session.execute(
        select(InboxEntry.id, InboxEntry.payload).where(InboxEntry.id.in_(candidates))
    ).all() if _mentions(body, needles)] if candidates else []
    counts["deliveries_deleted"] = session.execute(
        delete(InboxEntry).where(InboxEntry.id.in_(doomed))
    ).rowcount if doomed else 0
    return counts, subject.hash


__all__ = ["COMPLIANCE_TOPICS", "DISPATCHED", "LIFECYCLE_TOPICS", "handle_delivery",
           "record_ignored", "stale_dispatched", "subject_hash"]
