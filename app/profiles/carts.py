"""Carts and checkouts: applying their snapshots to the store.

A cart row is a storefront "cart" or a "checkout", matched by (kind, token); an older
snapshot than the stored one changes nothing. A checkout is converted once an order names it
(here, if the order is already stored; otherwise the order's conversions, queued in the
writer, convert it), and a converted cart stays converted. A checkout with a known shopper
names the storefront cart behind it, if that cart had no shopper yet.

Marking idle carts abandoned is the periodic job's half: `abandoned.mark_abandoned_carts`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from app import events
from app.db import utcnow
from app.profiles import is_stale
from app.profiles.identity import Identity
from app.profiles.models import CART_CONVERTED, CART_OPEN, Cart
from app.profiles.orders import Orders
from app.profiles.timeline import Timeline
from app.profiles.writer import BatchWriter, among_values
from connectors.records import CartRecord

_K = Cart.__table__

# What the batch caches hold for a cart: (id, platform_updated_at, status, customer_id).
_CartRow = tuple[int, datetime | None, str, int | None]


class Carts:
    """The batch's carts and checkouts."""

    def __init__(self, writer: BatchWriter, identity: Identity, orders: Orders,
                 timeline: Timeline) -> None:
        self.writer = writer
        self.identity = identity
        self.orders = orders
        self.timeline = timeline
        self.shop_id = writer.shop_id
        # Per-batch cache by (kind, token), as in `Identity`: a known key with no entry is
        # not stored.
        self._carts: dict[tuple[str, str], _CartRow] = {}
        self._carts_known: set[tuple[str, str]] = set()

    def prefetch(self, carts: set[tuple[str, str]]) -> None:
        """Cache these (kind, token) carts."""
        for kind in ("cart", "checkout"):
            tokens = {token for k, token in carts if k == kind}
            for among in among_values(self.writer.conn, _K.c.token, tokens):
                for cid, token, updated, status, customer_id in self.writer.exec(
                    select(_K.c.id, _K.c.token, _K.c.platform_updated_at, _K.c.status,
                           _K.c.customer_id)
                    .where(_K.c.shop_id == self.shop_id, _K.c.kind == kind, among)
                ):
                    self._carts[(kind, token)] = (cid, updated, status, customer_id)
        self._carts_known |= carts

    def forget(self) -> None:
        """Drop cached carts (a merge moved them, or a savepoint rolled back)."""
        self._carts.clear()
        self._carts_known.clear()

    def _cart_row(self, kind: str, token: str) -> _CartRow | None:
        key = (kind, token)
        if key in self._carts_known:
            return self._carts.get(key)
        found = self.writer.exec(
            select(_K.c.id, _K.c.platform_updated_at, _K.c.status, _K.c.customer_id)
            .where(_K.c.shop_id == self.shop_id, _K.c.kind == kind, _K.c.token == token)
        ).first()
        return None if found is None else (found[0], found[1], found[2], found[3])

    def apply(self, rec: CartRecord) -> None:
        existing = self._cart_row(rec.kind, rec.token)
        if existing is not None and is_stale(rec.updated_at, existing[1]):
            return
        if rec.customer is not None:
            customer_id = self.identity.upsert_customer(rec.customer)
        else:
            customer_id = self.identity.customer_for_email(rec.email, seen_at=rec.created_at)
        if customer_id is None and existing is not None:
            customer_id = existing[3]
        status = CART_OPEN
        converted_order_id = None
        if rec.kind == "checkout":
            converted_order_id = self.orders.order_for_checkout(rec.token)
        if rec.completed_at or converted_order_id or (
            existing is not None and existing[2] == CART_CONVERTED
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
        }
        if converted_order_id is not None:
            values["converted_order_id"] = converted_order_id
        writer = self.writer
        if existing is None:
            cart_id = writer.new_id(_K)
            writer.cart_inserts[cart_id] = {
                "id": cart_id, "shop_id": self.shop_id, "kind": rec.kind, "token": rec.token,
                "created_at": utcnow(), "converted_order_id": None,
                # Set by the abandonment job and kept by later snapshots, so a checkout
                # completed after it was abandoned still says so (a recovered checkout).
                "abandoned_at": None, **values,
            }
        else:
            cart_id = existing[0]
            queued = writer.cart_inserts.get(cart_id)
            if queued is not None:
                queued.update(values)
            else:
                writer.cart_updates.setdefault(cart_id, {"_id": cart_id}).update(values)
        self._carts[(rec.kind, rec.token)] = (cart_id, rec.updated_at, status, customer_id)
        self._carts_known.add((rec.kind, rec.token))
        if rec.kind == "checkout" and rec.cart_token and customer_id is not None:
            self._name_storefront_cart(rec.cart_token, customer_id, rec.email)
        if rec.kind == "checkout" and customer_id is not None:
            self.timeline.add(customer_id, events.CHECKOUT_STARTED, rec.token,
                              rec.created_at or utcnow(),
                              {"total_price": str(rec.total_price), "currency": rec.currency})

    def _name_storefront_cart(self, token: str, customer_id: int, email: str | None) -> None:
        """The storefront cart behind a checkout now has a known shopper (if it had none)."""
        key = ("cart", token)
        if key not in self._carts_known:
            self.writer.exec(update(_K).where(
                _K.c.shop_id == self.shop_id, _K.c.kind == "cart", _K.c.token == token,
                _K.c.customer_id.is_(None),
            ).values(customer_id=customer_id, email=email))
            return
        row = self._carts.get(key)
        if row is None or row[3] is not None:
            return  # no such cart, or it already names its shopper
        cart_id = row[0]
        queued = self.writer.cart_inserts.get(cart_id)
        if queued is None:
            queued = self.writer.cart_updates.setdefault(cart_id, {"_id": cart_id})
        queued.update(customer_id=customer_id, email=email)
        self._carts[key] = (cart_id, row[1], row[2], customer_id)
