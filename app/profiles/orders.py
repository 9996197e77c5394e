"""Orders and refunds: applying them, and the refund totals and facts they leave behind.

An order is matched by its platform id; an older version than the stored one (or than a
later version in the same batch) changes nothing, except that the refunds it carries are
kept: refunds never change once made. Refunds are stored by the platform's order id, so one
may arrive before its order; `refresh_refund_totals` (run once per batch, by `finish()`)
then brings each touched order's `total_refunded` and refund facts in line.

A new order converts the carts and checkouts it came from (queued in the writer).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, update

from app import events
from app.db import utcnow
from app.money import format_money
from app.profiles import is_stale
from app.profiles.identity import Identity
from app.profiles.models import Order, Refund
from app.profiles.timeline import PAID_STATES, Timeline
from app.profiles.writer import BatchWriter, among_values
from connectors.records import OrderRecord, RefundRecord

_O = Order.__table__
_R = Refund.__table__

# What the batch caches hold for an order: (id, customer_id, platform_updated_at).
_OrderRow = tuple[int, int | None, datetime | None]


class Orders:
    """The batch's orders and refunds."""

    def __init__(self, writer: BatchWriter, identity: Identity, timeline: Timeline) -> None:
        self.writer = writer
        self.identity = identity
        self.timeline = timeline
        self.shop_id = writer.shop_id
        # Per-batch caches, as in `Identity`: a known key with no entry is not stored.
        self._orders: dict[str, _OrderRow] = {}
        self._orders_known: set[str] = set()
        self._order_by_checkout: dict[str, int | None] = {}
        # Platform order id → the newest `updated_at` among the batch's versions of it.
        self._newest_in_batch: dict[str, datetime] = {}
        # Orders (platform ids) whose refund totals the batch may have changed.
        self._touched_orders: set[str] = set()

    # -- reading ahead --------------------------------------------------------------

    def prefetch(self, order_ids: set[str], newest: dict[str, datetime]) -> None:
        """Cache these orders; `newest`: each one's newest version in the batch."""
        for pid, updated_at in newest.items():
            known = self._newest_in_batch.get(pid)
            if known is None or updated_at > known:
                self._newest_in_batch[pid] = updated_at
        for among in among_values(self.writer.conn, _O.c.platform_order_id, order_ids):
            for pid, oid, cid, updated in self.writer.exec(
                select(_O.c.platform_order_id, _O.c.id, _O.c.customer_id,
                       _O.c.platform_updated_at)
                .where(_O.c.shop_id == self.shop_id, among)
            ):
                self._orders[pid] = (oid, cid, updated)
        self._orders_known |= order_ids

    def prefetch_checkouts(self, tokens: set[str]) -> None:
        """Cache the first order of each checkout (see `order_for_checkout`)."""
        for among in among_values(self.writer.conn, _O.c.checkout_token, tokens):
            for token, oid in self.writer.exec(
                select(_O.c.checkout_token, func.min(_O.c.id))
                .where(_O.c.shop_id == self.shop_id, among)
                .group_by(_O.c.checkout_token)
            ):
                self._order_by_checkout[token] = oid
        for token in tokens:
            self._order_by_checkout.setdefault(token, None)

    def forget(self) -> None:
        """Drop cached orders (a merge moved them to another profile)."""
        self._orders.clear()
        self._orders_known.clear()

    def discard(self) -> None:
        """After a savepoint rollback: drop every cached read."""
        self.forget()
        self._order_by_checkout.clear()
        # A version seen only in the rolled-back delivery must not make others look stale.
        self._newest_in_batch.clear()

    # -- orders ---------------------------------------------------------------------

    def _order_row(self, platform_id: str) -> _OrderRow | None:
        if platform_id in self._orders_known:
            return self._orders.get(platform_id)
        found = self.writer.exec(
            select(_O.c.id, _O.c.customer_id, _O.c.platform_updated_at)
            .where(_O.c.shop_id == self.shop_id, _O.c.platform_order_id == platform_id)
        ).first()
        return None if found is None else (found[0], found[1], found[2])

    def order_for_checkout(self, token: str) -> int | None:
        """The first order placed from this checkout, if any (it converts the checkout)."""
        if token not in self._order_by_checkout:
            self._order_by_checkout[token] = self.writer.exec(
                select(_O.c.id).where(_O.c.shop_id == self.shop_id,
                                      _O.c.checkout_token == token)
                .order_by(_O.c.id).limit(1)
            ).scalar()
        return self._order_by_checkout[token]

    def apply(self, rec: OrderRecord) -> None:
        writer = self.writer
        existing = self._order_row(rec.platform_id)
        # Refunds never change once made: keep them even from a stale order payload.
        for refund in rec.refunds:
            self.insert_refund(refund)
        if existing is not None and is_stale(rec.updated_at, existing[2]):
            return
        if is_stale(rec.updated_at, self._newest_in_batch.get(rec.platform_id)):
            return  # a newer version of this order comes later in the same batch

        if rec.customer is not None:
            customer_id = self.identity.upsert_customer(rec.customer)
        else:
            customer_id = self.identity.customer_for_email(rec.email, seen_at=rec.placed_at)

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
            "shipping_address_hash": rec.shipping_address_hash,
            "billing_address_hash": rec.billing_address_hash,
            "placed_at": rec.placed_at,
            "cancelled_at": rec.cancelled_at,
            "closed_at": rec.closed_at,
            "platform_updated_at": rec.updated_at,
            "updated_at": utcnow(),
        }
        if existing is None:
            order_id = writer.new_id(_O)
            writer.order_inserts[order_id] = {
                "id": order_id, "shop_id": self.shop_id, "platform_order_id": rec.platform_id,
                "created_at": values["updated_at"], "total_refunded": Decimal("0"), **values,
            }
            if rec.checkout_token and self._order_by_checkout.get(rec.checkout_token) is None:
                self._order_by_checkout[rec.checkout_token] = order_id
            # Later versions find their carts already converted.
            self._queue_conversions(rec, order_id, customer_id)
        else:
            order_id = existing[0]
            if order_id in writer.order_inserts:  # a second version of an order new this batch
                writer.order_inserts[order_id].update(values)
            else:
                writer.order_updates[order_id] = {"_id": order_id, **values}
                writer.replace_lines.add(order_id)
            if existing[1] is not None:
                writer.dirty_customers.add(existing[1])
        self._orders[rec.platform_id] = (order_id, customer_id, rec.updated_at)
        self._orders_known.add(rec.platform_id)
        writer.lines[order_id] = [
            {
                "shop_id": self.shop_id, "order_id": order_id,
                "platform_line_id": line.platform_id, "product_id": line.product_id,
                "variant_id": line.variant_id, "sku": line.sku, "title": line.title,
                "variant_title": line.variant_title, "quantity": line.quantity,
                "price": line.price, "total_discount": line.total_discount,
            }
            for line in rec.lines
        ]
        self._touched_orders.add(rec.platform_id)
        if customer_id is None:
            return
        writer.dirty_customers.add(customer_id)
        # An order this batch inserts has no stored timeline yet (orders are never deleted).
        fresh = order_id in writer.order_inserts
        timeline = self.timeline
        if fresh and writer.postgres and timeline.is_history(rec.placed_at, rec.updated_at,
                                                             rec.cancelled_at):
            timeline.history_orders.append(order_id)
            return
        # Same values as the server writes for history orders (`timeline._HISTORY_TIMELINE`).
        data = {"order_id": order_id, "name": rec.name,
                "total_price": format_money(rec.total_price, rec.currency),
                "currency": rec.currency}
        timeline.add(customer_id, events.ORDER_PLACED, rec.platform_id, rec.placed_at, data,
                     fresh=fresh)
        if rec.financial_status in PAID_STATES:
            timeline.add(customer_id, events.ORDER_PAID, rec.platform_id,
                         rec.updated_at or rec.placed_at, data, fresh=fresh)
        if rec.cancelled_at:
            timeline.add(customer_id, events.ORDER_CANCELLED, rec.platform_id,
                         rec.cancelled_at, data, fresh=fresh)
        if rec.fulfillment_status == "fulfilled":
            timeline.add(customer_id, events.ORDER_FULFILLED, rec.platform_id,
                         rec.updated_at or rec.placed_at, data, fresh=fresh)

    def _queue_conversions(self, rec: OrderRecord, order_id: int,
                           customer_id: int | None) -> None:
        for key, token in (("checkout", rec.checkout_token), ("cart", rec.cart_token)):
            if token:
                self.writer.conversions[key].append({
                    "_shop": self.shop_id, "_token": token, "_order": order_id,
                    "_placed": rec.placed_at, "_customer": customer_id})

    # -- refunds --------------------------------------------------------------------

    def insert_refund(self, rec: RefundRecord) -> None:
        row = self.writer.refunds.setdefault(rec.platform_id, {
            "shop_id": self.shop_id, "platform_refund_id": rec.platform_id,
            "platform_order_id": rec.order_platform_id, "amount": rec.amount,
            "note": rec.note, "refunded_at": rec.refunded_at, "created_at": utcnow(),
        })
        # What a refund returned only grows (a pending transaction succeeds later), so the
        # largest amount seen wins, whatever order the versions arrive in (here and in the
        # refunds upsert of `BatchWriter.flush`).
        row["amount"] = max(row["amount"], rec.amount)
        self._touched_orders.add(rec.order_platform_id)

    def refresh_refund_totals(self) -> None:
        """For the orders touched since the last call that have refunds: `total_refunded`,
        and a timeline row per refund (refunds may have arrived before their order, in this
        batch or earlier). Run after the batch's writes are flushed."""
        touched, self._touched_orders = self._touched_orders, set()
        if not touched:
            return
        writer = self.writer
        refunded: set[str] = set()
        for among in among_values(writer.conn, _R.c.platform_order_id, touched):
            refunded.update(writer.exec(
                select(_R.c.platform_order_id).distinct()
                .where(_R.c.shop_id == self.shop_id, among)
            ).scalars())
        if not refunded:
            return  # only orders with refunds can differ from the zero a new order starts with
        total = (
            select(func.coalesce(func.sum(_R.c.amount), 0))
            .where(_R.c.shop_id == self.shop_id,
                   _R.c.platform_order_id == _O.c.platform_order_id)
            .scalar_subquery()
        )
        # An order's refunds never exceed what was paid for it (an over-refund, a refund
        # counted twice by the platform, a bad payload), so no figure built on
        # `total_price - total_refunded` can go below zero.
        least, greatest = (func.least, func.greatest) if writer.postgres else (func.min, func.max)
        total = least(greatest(total, 0), _O.c.total_price)
        for among in among_values(writer.conn, _O.c.platform_order_id, refunded):
            writer.exec(update(_O).where(_O.c.shop_id == self.shop_id, among)
                        .values(total_refunded=total))
            rows = writer.exec(
                select(_O.c.customer_id, _R.c.platform_refund_id, _R.c.amount,
                       _R.c.refunded_at, _O.c.id, _O.c.name, _O.c.currency)
                .join(_R, and_(_R.c.shop_id == _O.c.shop_id,
                               _R.c.platform_order_id == _O.c.platform_order_id))
                .where(_O.c.shop_id == self.shop_id, among, _O.c.customer_id.is_not(None))
            ).all()
            for customer_id, refund_id, amount, refunded_at, order_id, name, currency in rows:
                writer.dirty_customers.add(customer_id)
                self.timeline.add(customer_id, events.REFUND_CREATED, refund_id, refunded_at,
                                  {"order_id": order_id, "name": name, "amount": str(amount),
                                   "currency": currency})
        self.timeline.flush()
