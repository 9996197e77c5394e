"""Cross-sell: what this store's customers most often buy with what a shopper bought.

FOUNDATION STUB (returns nothing): the built-in flows' owner implements it from the store's
own orders.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session


def recommend(session: Session, shop_id: int, product_ids: list[str],
              limit: int = 3) -> list[dict[str, Any]]:
    """Products most often bought in the same orders as `product_ids` (excluding them):
    [{"product_id", "title", "orders_together", "url"}]; [] when there is too little data."""
    return []
