"""Applying neutral records to the profile store.

`ProfileStore` is used for one batch inside one transaction: `apply()` each record (the
caller wraps each delivery in a savepoint), then `finish()` once, which brings refund totals
and per-customer figures in line with the stored rows and publishes domain events.

Rules that keep the mirror right whatever order deliveries come in:
- a record carrying an older platform `updated_at` than the stored one changes nothing;
- refunds are stored by the platform's order id, so one may arrive before its order;
- per-customer figures are always recomputed from the stored orders, never incremented;
- identity: platform customer id first, else normalized email; a guest profile is claimed
  (or merged) when a registered customer with the same email appears.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from app import events
from app.db import insert_for, utcnow
from app.events import DomainEvent
from app.profiles.models import (
    CART_CONVERTED,
    CART_OPEN,
    NOT_SUBSCRIBED,
    Cart,
    Customer,
    Order,
    OrderLine,
    Refund,
    TimelineEvent,
)
from connectors.records import (
    CartRecord,
    CustomerDeleted,
    CustomerRecord,
    MarketingConsentRecord,
    OrderRecord,
    Record,
    RefundRecord,
)

log = logging.getLogger(__name__)

PAID_STATES = {"paid", "partially_refunded", "refunded", "partially_paid"}


def normalize_email(email: str | None) -> str | None:
    if not email:
        return None
    email = email.strip().lower()
    return email if "@" in email else None


def counted_order(order=Order):
    """Orders that count towards a customer's figures: not cancelled, not voided."""
    return and_(
        order.cancelled_at.is_(None),
        or_(order.financial_status.is_(None), order.financial_status != "voided"),
    )


def _is_stale(incoming: datetime | None, stored: datetime | None) -> bool:
    return incoming is not None and stored is not None and incoming < stored


@dataclass
class _Timeline:
    customer_id: int
    kind: str
    ref: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


class ProfileStore:
    def __init__(self, session: Session, shop_id: int, *, flush_each: bool = False) -> None:
        """`flush_each=True` writes timeline rows after every record, for callers that wrap
        each record in a savepoint; otherwise they are written once, in `finish()`."""
        self.session = session
        self.shop_id = shop_id
        self.flush_each = flush_each
        self._dirty_customers: set[int] = set()
        self._touched_orders: set[str] = set()
        self._pending_timeline: list[_Timeline] = []
        self.published: list[DomainEvent] = []
        # Per-batch caches of what the database holds, kept in step with our own writes.
        self._customers: dict[str, tuple[int, datetime | None, str | None, datetime | None]] = {}
        self._orders: dict[str, tuple[int, int | None, datetime | None]] = {}
        self._orders_known: set[str] = set()
        self._newest_in_batch: dict[str, datetime] = {}

    def prefetch(self, records: list[Record]) -> None:
        """Load the batch's existing orders and customers in two queries, not one per record."""
        order_ids: set[str] = set()
        customer_ids: set[str] = set()
        for rec in records:
            if isinstance(rec, OrderRecord):
                order_ids.add(rec.platform_id)
                if rec.updated_at is not None:
                    newest = self._newest_in_batch.get(rec.platform_id)
                    if newest is None or rec.updated_at > newest:
                        self._newest_in_batch[rec.platform_id] = rec.updated_at
                if rec.customer is not None and rec.customer.platform_id:
                    customer_ids.add(rec.customer.platform_id)
            elif isinstance(rec, CartRecord | CustomerRecord):
                customer = rec.customer if isinstance(rec, CartRecord) else rec
                if customer is not None and customer.platform_id:
                    customer_ids.add(customer.platform_id)
        s = self.session
        for chunk in _chunks(sorted(order_ids)):
            for pid, oid, cid, updated in s.execute(
                select(Order.platform_order_id, Order.id, Order.customer_id,
                       Order.platform_updated_at)
                .where(Order.shop_id == self.shop_id, Order.platform_order_id.in_(chunk))
            ):
                self._orders[pid] = (oid, cid, updated)
        self._orders_known |= order_ids
        for chunk in _chunks(sorted(customer_ids)):
            for pid, cid, updated, email_n, consent_at in s.execute(
                select(Customer.platform_customer_id, Customer.id, Customer.platform_updated_at,
                       Customer.email_normalized, Customer.email_marketing_updated_at)
                .where(Customer.shop_id == self.shop_id,
                       Customer.platform_customer_id.in_(chunk))
            ):
                self._customers[pid] = (cid, updated, email_n, consent_at)

    # -- entry points ---------------------------------------------------------------

    def apply(self, record: Record) -> None:
        if isinstance(record, OrderRecord):
            self._apply_order(record)
        elif isinstance(record, RefundRecord):
            self._insert_refund(record)
        elif isinstance(record, CustomerRecord):
            self.upsert_customer(record)
        elif isinstance(record, CartRecord):
            self._apply_cart(record)
        elif isinstance(record, MarketingConsentRecord):
            self._apply_consent(record)
        elif isinstance(record, CustomerDeleted):
            self._apply_customer_deleted(record)
        else:  # pragma: no cover - a connector returned something new
            raise TypeError(f"unknown record type {type(record).__name__}")
        if self.flush_each:
            self._flush_timeline()

    def finish(self) -> list[DomainEvent]:
        """Bring derived figures in line with this batch's changes; publish its events."""
        self._flush_timeline()
        if self._touched_orders:
            self._refresh_refund_totals()
        if self._dirty_customers:
            refresh_customer_figures(self.session, self.shop_id, self._dirty_customers)
        events.publish(self.session, self.published)
        published, self.published = self.published, []
        self._dirty_customers.clear()
        self._touched_orders.clear()
        return published

    # -- customers ------------------------------------------------------------------

    def upsert_customer(self, rec: CustomerRecord) -> int | None:
        if not rec.platform_id:
            return self.customer_for_email(rec.email, rec)
        s = self.session
        email_n = normalize_email(rec.email)
        row = self._customers.get(rec.platform_id)
        if row is None:
            row = s.execute(
                select(Customer.id, Customer.platform_updated_at, Customer.email_normalized,
                       Customer.email_marketing_updated_at)
                .where(Customer.shop_id == self.shop_id,
                       Customer.platform_customer_id == rec.platform_id)
            ).first()
        if row is None:
            guest_id = self._guest_id(email_n)
            if guest_id is not None:
                # A guest known from orders or checkouts has registered: same person.
                s.execute(update(Customer).where(Customer.id == guest_id)
                          .values(platform_customer_id=rec.platform_id,
                                  **self._customer_values(rec)))
                self._forget_customers()
                self._timeline(guest_id, events.CUSTOMER_CREATED, rec.platform_id,
                               rec.created_at or utcnow())
                return guest_id
            values = self._customer_values(rec)
            values.setdefault("email_marketing", NOT_SUBSCRIBED)
            customer_id = s.execute(
                insert_for(s, Customer).values(
                    shop_id=self.shop_id, platform_customer_id=rec.platform_id,
                    created_at=utcnow(), updated_at=utcnow(), **values,
                ).returning(Customer.id)
            ).scalar_one()
            self._customers[rec.platform_id] = (customer_id, rec.updated_at, email_n,
                                                values.get("email_marketing_updated_at"))
            self._timeline(customer_id, events.CUSTOMER_CREATED, rec.platform_id,
                           rec.created_at or utcnow())
            return customer_id

        customer_id, stored_updated_at, stored_email, stored_consent_at = row
        if _is_stale(rec.updated_at, stored_updated_at):
            return customer_id
        if rec.updated_at is None and stored_updated_at is not None:
            # An undated copy (embedded in an order) of a profile the customers/* topics keep:
            # it identifies the shopper and has nothing newer to say.
            return customer_id
        # Without a timestamp (a customer embedded in an order) only fill what is missing.
        values = self._customer_values(rec)
        if rec.updated_at is None:
            values = self._only_missing(customer_id, values)
        if values.get("email_marketing") and _is_stale(
            rec.email_marketing_updated_at, stored_consent_at
        ):
            values.pop("email_marketing", None)
            values.pop("email_marketing_updated_at", None)
        if values:
            s.execute(update(Customer).where(Customer.id == customer_id).values(**values))
            self._customers[rec.platform_id] = (
                customer_id,
                values.get("platform_updated_at", stored_updated_at),
                values.get("email_normalized", stored_email),
                values.get("email_marketing_updated_at", stored_consent_at),
            )
        new_email = values.get("email_normalized")
        if new_email and new_email != stored_email:
            guest_id = self._guest_id(new_email)
            if guest_id is not None and guest_id != customer_id:
                self._merge(guest_id, into=customer_id)
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

    def _only_missing(self, customer_id: int, values: dict[str, Any]) -> dict[str, Any]:
        if not values:
            return values
        columns = [getattr(Customer, k) for k in values]
        current = self.session.execute(
            select(*columns).where(Customer.id == customer_id)
        ).one()
        return {k: v for (k, v), now in zip(values.items(), current, strict=True) if now is None}

    def _guest_id(self, email_n: str | None) -> int | None:
        if not email_n:
            return None
        return self.session.execute(
            select(Customer.id).where(
                Customer.shop_id == self.shop_id,
                Customer.email_normalized == email_n,
                Customer.platform_customer_id.is_(None),
            ).order_by(Customer.id).limit(1)
        ).scalar()

    def customer_for_email(self, email: str | None, rec: CustomerRecord | None = None,
                           *, create: bool = True) -> int | None:
        """The profile for a shopper known only by email (guest order, checkout)."""
        email_n = normalize_email(email)
        if not email_n:
            return None
        s = self.session
        existing = s.execute(
            select(Customer.id).where(Customer.shop_id == self.shop_id,
                                      Customer.email_normalized == email_n)
            .order_by(Customer.platform_customer_id.is_(None), Customer.id).limit(1)
        ).scalar()
        if existing is not None or not create:
            return existing
        values = self._customer_values(rec) if rec else {}
        values.update(email=email.strip() if email else None, email_normalized=email_n)
        values.setdefault("email_marketing", NOT_SUBSCRIBED)
        customer_id = s.execute(
            insert_for(s, Customer).values(
                shop_id=self.shop_id, created_at=utcnow(), updated_at=utcnow(), **values
            ).returning(Customer.id)
        ).scalar_one()
        self._timeline(customer_id, events.CUSTOMER_CREATED, f"guest:{email_n}", utcnow())
        return customer_id

    def _merge(self, guest_id: int, *, into: int) -> None:
        """Move a guest's orders, carts and timeline onto a registered profile."""
        s = self.session
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
        s.execute(delete(Customer).where(Customer.id == guest_id))
        self._forget_customers()
        self._dirty_customers.discard(guest_id)
        self._dirty_customers.add(into)
        log.info("profiles.guest_merged", extra={"shop_id": self.shop_id, "guest_id": guest_id,
                                                  "customer_id": into})

    def discard_pending(self) -> None:
        """After a savepoint rollback: drop unwritten timeline rows and every cached read."""
        self._pending_timeline.clear()
        self._forget_customers()
        self._orders.clear()
        self._orders_known.clear()

    def _forget_customers(self) -> None:
        # Identity changed under the cache (a guest claimed or merged): read afresh.
        self._customers.clear()

    def _apply_customer_deleted(self, rec: CustomerDeleted) -> None:
        self.session.execute(
            update(Customer).where(Customer.shop_id == self.shop_id,
                                   Customer.platform_customer_id == rec.platform_id,
                                   Customer.deleted_at.is_(None))
            .values(deleted_at=utcnow())
        )

    def _apply_consent(self, rec: MarketingConsentRecord) -> None:
        if rec.customer_platform_id:
            customer_id = self.upsert_customer(
                CustomerRecord(platform_id=rec.customer_platform_id, email=rec.email)
            )
        else:
            customer_id = self.customer_for_email(rec.email)
        if customer_id is None:
            return
        stored_at = self.session.execute(
            select(Customer.email_marketing_updated_at).where(Customer.id == customer_id)
        ).scalar()
        if _is_stale(rec.updated_at, stored_at):
            return
        self.session.execute(update(Customer).where(Customer.id == customer_id).values(
            email_marketing=rec.email_marketing,
            email_marketing_updated_at=rec.updated_at or utcnow(),
        ))
        self._forget_customers()
        when = rec.updated_at or utcnow()
        self._timeline(customer_id, events.EMAIL_MARKETING_CHANGED,
                       f"{rec.email_marketing}:{when.isoformat()}", when,
                       {"email_marketing": rec.email_marketing})

    # -- orders ---------------------------------------------------------------------

    def _apply_order(self, rec: OrderRecord) -> None:
        s = self.session
        if rec.platform_id in self._orders_known:
            existing = self._orders.get(rec.platform_id)
        else:
            existing = s.execute(
                select(Order.id, Order.customer_id, Order.platform_updated_at)
                .where(Order.shop_id == self.shop_id, Order.platform_order_id == rec.platform_id)
            ).first()
        # Refunds never change once made: keep them even from a stale order payload.
        for refund in rec.refunds:
            self._insert_refund(refund)
        if existing is not None and _is_stale(rec.updated_at, existing[2]):
            return
        if _is_stale(rec.updated_at, self._newest_in_batch.get(rec.platform_id)):
            return  # a newer version of this order comes later in the same batch

        if rec.customer is not None:
            customer_id = self.upsert_customer(rec.customer)
        else:
            customer_id = self.customer_for_email(rec.email)

        values: dict[str, Any] = {
            "customer_id": customer_id,
            "name": rec.name,
            "email": rec.email,
            "currency": rec.currency,
            "presentment_currency": rec.presentment_currency,
            "subtotal": rec.subtotal,
            "total_price": rec.total_price,
            "total_tax": rec.total_tax,
            "total_discounts": rec.total_discounts,
            "total_shipping": rec.total_shipping,
            "financial_status": rec.financial_status,
            "fulfillment_status": rec.fulfillment_status,
            "discount_codes": rec.discount_codes,
            "source_name": rec.source_name,
            "landing_site": rec.landing_site,
            "checkout_token": rec.checkout_token,
            "cart_token": rec.cart_token,
            "test": rec.test,
            "placed_at": rec.placed_at,
            "cancelled_at": rec.cancelled_at,
            "closed_at": rec.closed_at,
            "platform_updated_at": rec.updated_at,
            "updated_at": utcnow(),
        }
        if existing is None:
            order_id = s.execute(
                insert_for(s, Order).values(
                    shop_id=self.shop_id, platform_order_id=rec.platform_id,
                    created_at=utcnow(), **values,
                ).returning(Order.id)
            ).scalar_one()
        else:
            order_id = existing[0]
            s.execute(update(Order).where(Order.id == order_id).values(**values))
            s.execute(delete(OrderLine).where(OrderLine.order_id == order_id))
            if existing[1] is not None:
                self._dirty_customers.add(existing[1])
        self._orders[rec.platform_id] = (order_id, customer_id, rec.updated_at)
        self._orders_known.add(rec.platform_id)
        if rec.lines:
            s.execute(insert_for(s, OrderLine), [
                {
                    "shop_id": self.shop_id, "order_id": order_id,
                    "platform_line_id": line.platform_id, "product_id": line.product_id,
                    "variant_id": line.variant_id, "sku": line.sku, "title": line.title,
                    "variant_title": line.variant_title, "quantity": line.quantity,
                    "price": line.price, "total_discount": line.total_discount,
                }
                for line in rec.lines
            ])
        self._touched_orders.add(rec.platform_id)
        if existing is None:  # later versions find their carts already converted
            self._convert_carts(rec, order_id, customer_id)
        if customer_id is None:
            return
        self._dirty_customers.add(customer_id)
        data = {"order_id": order_id, "name": rec.name, "total_price": str(rec.total_price),
                "currency": rec.currency}
        self._timeline(customer_id, events.ORDER_PLACED, rec.platform_id, rec.placed_at, data)
        if rec.financial_status in PAID_STATES:
            self._timeline(customer_id, events.ORDER_PAID, rec.platform_id,
                           rec.updated_at or rec.placed_at, data)
        if rec.cancelled_at:
            self._timeline(customer_id, events.ORDER_CANCELLED, rec.platform_id,
                           rec.cancelled_at, data)
        if rec.fulfillment_status == "fulfilled":
            self._timeline(customer_id, events.ORDER_FULFILLED, rec.platform_id,
                           rec.updated_at or rec.placed_at, data)

    def _insert_refund(self, rec: RefundRecord) -> None:
        s = self.session
        s.execute(
            insert_for(s, Refund).values(
                shop_id=self.shop_id, platform_refund_id=rec.platform_id,
                platform_order_id=rec.order_platform_id, amount=rec.amount,
                note=rec.note, refunded_at=rec.refunded_at, created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["shop_id", "platform_refund_id"])
        )
        self._touched_orders.add(rec.order_platform_id)

    def _refresh_refund_totals(self) -> None:
        s = self.session
        touched = list(self._touched_orders)
        refunded = (
            select(func.coalesce(func.sum(Refund.amount), 0))
            .where(Refund.shop_id == self.shop_id,
                   Refund.platform_order_id == Order.platform_order_id)
            .scalar_subquery()
        )
        s.execute(
            update(Order)
            .where(Order.shop_id == self.shop_id, Order.platform_order_id.in_(touched))
            .values(total_refunded=refunded)
        )
        rows = s.execute(
            select(Order.customer_id, Refund.platform_refund_id, Refund.amount,
                   Refund.refunded_at, Order.id, Order.name, Order.currency)
            .join(Refund, and_(Refund.shop_id == Order.shop_id,
                               Refund.platform_order_id == Order.platform_order_id))
            .where(Order.shop_id == self.shop_id, Order.platform_order_id.in_(touched),
                   Order.customer_id.is_not(None))
        ).all()
        for customer_id, refund_id, amount, refunded_at, order_id, name, currency in rows:
            self._dirty_customers.add(customer_id)
            self._timeline(customer_id, events.REFUND_CREATED, refund_id, refunded_at,
                           {"order_id": order_id, "name": name, "amount": str(amount),
                            "currency": currency})
        self._flush_timeline()

    # -- carts ----------------------------------------------------------------------

    def _apply_cart(self, rec: CartRecord) -> None:
        s = self.session
        existing = s.execute(
            select(Cart.id, Cart.platform_updated_at, Cart.status, Cart.customer_id)
            .where(Cart.shop_id == self.shop_id, Cart.kind == rec.kind, Cart.token == rec.token)
        ).first()
        if existing is not None and _is_stale(rec.updated_at, existing.platform_updated_at):
            return
        if rec.customer is not None:
            customer_id = self.upsert_customer(rec.customer)
        else:
            customer_id = self.customer_for_email(rec.email)
        if customer_id is None and existing is not None:
            customer_id = existing.customer_id
        status = CART_OPEN
        converted_order_id = None
        if rec.kind == "checkout":
            converted_order_id = s.execute(
                select(Order.id).where(Order.shop_id == self.shop_id,
                                       Order.checkout_token == rec.token).limit(1)
            ).scalar()
        if rec.completed_at or converted_order_id or (
            existing is not None and existing.status == CART_CONVERTED
        ):
            status = CART_CONVERTED
        values: dict[str, Any] = {
            "customer_id": customer_id,
            "cart_token": rec.cart_token,
            "email": rec.email,
            "currency": rec.currency,
            "total_price": rec.total_price,
            "line_items": rec.line_items,
            "recovery_url": rec.recovery_url,
            "status": status,
            "platform_created_at": rec.created_at,
            "platform_updated_at": rec.updated_at,
            "completed_at": rec.completed_at,
            "abandoned_at": None,
        }
        if converted_order_id is not None:
            values["converted_order_id"] = converted_order_id
        if existing is None:
            s.execute(insert_for(s, Cart).values(
                shop_id=self.shop_id, kind=rec.kind, token=rec.token, created_at=utcnow(),
                **values,
            ))
        else:
            s.execute(update(Cart).where(Cart.id == existing.id).values(**values))
        if rec.kind == "checkout" and rec.cart_token and customer_id is not None:
            # The storefront cart behind this checkout now has a known shopper.
            s.execute(update(Cart).where(
                Cart.shop_id == self.shop_id, Cart.kind == "cart",
                Cart.token == rec.cart_token, Cart.customer_id.is_(None),
            ).values(customer_id=customer_id, email=rec.email))
        if rec.kind == "checkout" and customer_id is not None:
            self._timeline(customer_id, events.CHECKOUT_STARTED, rec.token,
                           rec.created_at or utcnow(),
                           {"total_price": str(rec.total_price), "currency": rec.currency})

    def _convert_carts(self, rec: OrderRecord, order_id: int, customer_id: int | None) -> None:
        # Two statements, one per index, rather than one OR that the planner cannot index.
        targets = []
        if rec.checkout_token:
            targets.append(and_(Cart.kind == "checkout", Cart.token == rec.checkout_token))
        if rec.cart_token:
            targets.append(Cart.cart_token == rec.cart_token)
        for target in targets:
            self.session.execute(
                update(Cart).where(Cart.shop_id == self.shop_id, target,
                                   Cart.status != CART_CONVERTED)
                .values(status=CART_CONVERTED, converted_order_id=order_id,
                        completed_at=func.coalesce(Cart.completed_at, rec.placed_at),
                        customer_id=func.coalesce(Cart.customer_id, customer_id))
                .execution_options(synchronize_session=False)
            )

    # -- timeline -------------------------------------------------------------------

    def _timeline(self, customer_id: int, kind: str, ref: str, occurred_at: datetime,
                  data: dict[str, Any] | None = None) -> None:
        self._pending_timeline.append(_Timeline(customer_id, kind, ref, occurred_at, data or {}))

    def _flush_timeline(self) -> None:
        """Insert pending timeline rows; the ones that are new become domain events."""
        if not self._pending_timeline:
            return
        pending, self._pending_timeline = self._pending_timeline, []
        s = self.session
        inserted = s.execute(
            insert_for(s, TimelineEvent)
            .on_conflict_do_nothing(index_elements=["customer_id", "kind", "ref"])
            .returning(TimelineEvent.customer_id, TimelineEvent.kind, TimelineEvent.ref),
            [
                {"shop_id": self.shop_id, "customer_id": t.customer_id, "kind": t.kind,
                 "ref": t.ref, "occurred_at": t.occurred_at, "data": t.data}
                for t in pending
            ],
        ).all()
        new = set(inserted)
        for t in pending:
            if (t.customer_id, t.kind, t.ref) in new:
                self.published.append(DomainEvent(self.shop_id, t.customer_id, t.kind, t.ref,
                                                  t.occurred_at, t.data))


def _chunks(items: list[str], size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def refresh_customer_figures(session: Session, shop_id: int, customer_ids: set[int]) -> None:
    """Recompute orders_count, total_spent (net of refunds), first/last order and AOV."""
    ids = sorted(customer_ids)
    mine = and_(Order.customer_id == Customer.id, counted_order())
    count = select(func.count(Order.id)).where(mine).scalar_subquery()
    spent = select(
        func.coalesce(func.sum(Order.total_price - Order.total_refunded), 0)
    ).where(mine).scalar_subquery()
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start:chunk_start + 500]
        session.execute(
            update(Customer)
            .where(Customer.shop_id == shop_id, Customer.id.in_(chunk))
            .values(
                orders_count=count,
                total_spent=spent,
                first_order_at=select(func.min(Order.placed_at)).where(mine).scalar_subquery(),
                last_order_at=select(func.max(Order.placed_at)).where(mine).scalar_subquery(),
                updated_at=utcnow(),
            )
        )
        session.execute(
            update(Customer)
            .where(Customer.shop_id == shop_id, Customer.id.in_(chunk))
            .values(average_order_value=case(
                (Customer.orders_count > 0, Customer.total_spent / Customer.orders_count),
                else_=None,
            ))
        )


def mark_abandoned_carts(session: Session, shop_id: int, cutoff: datetime) -> list[DomainEvent]:
    """Open carts/checkouts of a known shopper idle since before `cutoff` become abandoned.

    A storefront cart that has a checkout is represented by that checkout, which carries the
    recovery URL; the cart itself is left alone.
    """
    checkout = aliased(Cart)
    has_checkout = (
        select(checkout.id).where(checkout.shop_id == shop_id, checkout.kind == "checkout",
                                  checkout.cart_token == Cart.token).exists()
    )
    rows = session.execute(
        select(Cart.id, Cart.customer_id, Cart.kind, Cart.token, Cart.total_price,
               Cart.currency, Cart.recovery_url)
        .where(Cart.shop_id == shop_id, Cart.status == CART_OPEN,
               Cart.customer_id.is_not(None), Cart.platform_updated_at < cutoff,
               or_(Cart.kind == "checkout", ~has_checkout))
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    now = utcnow()
    session.execute(update(Cart).where(Cart.id.in_([r.id for r in rows]))
                    .values(status="abandoned", abandoned_at=now))
    store = ProfileStore(session, shop_id)
    for row in rows:
        store._timeline(row.customer_id, events.CART_ABANDONED, f"{row.kind}:{row.token}", now,
                        {"cart_id": row.id, "total_price": str(row.total_price),
                         "currency": row.currency, "recovery_url": row.recovery_url})
    store._flush_timeline()
    return store.finish()
