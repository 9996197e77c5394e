"""Cross-sell: what this store's customers most often buy with what a shopper bought, from the
store's own orders (the post-purchase flow's `recommendations`).

Products are ranked by how many orders contain both one of the given products and them
(`by="order"`, the default: "bought together"), or by how many customers bought both, in any
orders (`by="customer"`: "customers who bought this also bought"). Only orders that count
(app.profiles.figures.counted_order: not cancelled, voided or a test) are read, and a product
needs at least `MIN_SUPPORT` such orders or customers: one shared basket is chance, not a
pattern, and a store with too little history recommends nothing rather than noise.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.money import format_money
from app.profiles.figures import counted_order
from app.profiles.models import Order, OrderLine
from app.shops.models import Shop

MIN_SUPPORT = 2
MAX_LIMIT = 12


def recommend(session: Session, shop_id: int, product_ids: list[str], limit: int = 3, *,
              by: str = "order", min_support: int = MIN_SUPPORT) -> list[dict[str, Any]]:
    """Up to `limit` products most often bought with `product_ids` (never one of them):
    [{"product_id", "title", "price" (a string in the shop's currency, as in its latest
    order), "url", "image_url", "orders_together"}], best first
    (ties by title). [] when none reaches `min_support`. One query."""
    wanted = sorted({str(p) for p in product_ids if p is not None})
    if not wanted or limit <= 0:
        return []
    if by not in ("order", "customer"):
        raise ValueError("by is 'order' or 'customer'")
    L, Ord = OrderLine, Order
    unit = L.order_id if by == "order" else Ord.customer_id
    # The orders (or customers) that bought one of the given products.
    seeds = (select(unit).select_from(L).join(Ord, Ord.id == L.order_id)
             .where(L.shop_id == shop_id, Ord.shop_id == shop_id, L.product_id.in_(wanted),
                    counted_order(Ord), unit.is_not(None)))
    together = func.count(distinct(unit)).label("together")
    pairs = (select(L.product_id, together).select_from(L).join(Ord, Ord.id == L.order_id)
             .where(L.shop_id == shop_id, Ord.shop_id == shop_id, counted_order(Ord),
                    unit.in_(seeds), L.product_id.is_not(None), L.product_id.not_in(wanted))
             .group_by(L.product_id).having(together >= min_support).subquery("pairs"))
    # What the product is called and costs now: its line in the latest order.
    L2, O2 = OrderLine.__table__.alias("latest_line"), Order.__table__.alias("latest_order")
    latest = (select(L2.c.id).select_from(L2.join(O2, O2.c.id == L2.c.order_id))
              .where(L2.c.shop_id == shop_id, L2.c.product_id == pairs.c.product_id)
              .order_by(O2.c.placed_at.desc(), L2.c.id.desc()).limit(1)
              .correlate(pairs).scalar_subquery())
    rows = session.execute(
        select(pairs.c.product_id, pairs.c.together, OrderLine.title, OrderLine.price)
        .join(OrderLine, OrderLine.id == latest)
        .order_by(pairs.c.together.desc(), OrderLine.title, pairs.c.product_id)
        .limit(min(limit, MAX_LIMIT))).all()
    shop = session.get(Shop, shop_id)
    currency = shop.currency if shop is not None else None
    return [{"product_id": r.product_id, "title": r.title,
             "price": format_money(r.price, currency),
             "url": product_url(shop, r.product_id, r.title), "image_url": None,
             "orders_together": r.together} for r in rows]


def product_url(shop: Shop | None, product_id: str, title: str | None) -> str | None:
    """A storefront link to the product. WordPress finds a product by its id (`?p=`);
    a Shopify storefront links products by handle, which orders do not carry, so the link
    is the store's product search for its title."""
    if shop is None:
        return None
    if shop.platform == "woocommerce" and shop.api_base_url:
        return f"{shop.api_base_url.rstrip('/')}/?p={quote_plus(product_id)}"
    if shop.platform == "shopify" and title:
        return f"https://{shop.domain}/search?type=product&q={quote_plus(title)}"
    return None
