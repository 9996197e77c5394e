"""Abandoned carts: open carts and checkouts of a known shopper that have gone idle.

The periodic job's half of carts (`jobs.carts`); applying cart snapshots is `carts`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, aliased

from app import events
from app.db import utcnow
from app.events import DomainEvent
from app.profiles.models import CART_OPEN, Cart
from app.profiles.store import ProfileStore


def mark_abandoned_carts(session: Session, shop_id: int, cutoff: datetime) -> list[DomainEvent]:
    """Open carts/checkouts of a known shopper idle since before `cutoff` become abandoned.

    A storefront cart that has a checkout is represented by that checkout, which carries the
    recovery URL; the cart itself is left alone. Returns the `cart_abandoned` events published.
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
               Cart.total_price > 0,  # an emptied cart is nothing to win back
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
        store.timeline.add(row.customer_id, events.CART_ABANDONED, f"{row.kind}:{row.token}",
                           now, {"cart_id": row.id, "total_price": str(row.total_price),
                                 "currency": row.currency, "recovery_url": row.recovery_url})
    store.timeline.flush()
    return store.finish()
