"""Marks idle carts and checkouts abandoned, which starts abandoned-cart flows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.db import db, utcnow
from app.profiles.abandoned import mark_abandoned_carts
from app.shops.models import Shop
from jobs.context import app_context


def mark_abandoned() -> dict:
    with app_context() as app:
        cutoff = utcnow() - timedelta(minutes=app.config["CART_ABANDONED_AFTER_MINUTES"])
        marked: dict[int, int] = {}
        with db.new_session() as session:
            with session.begin():
                shop_ids = session.execute(
                    select(Shop.id).where(Shop.status == "active")
                ).scalars().all()
            for shop_id in shop_ids:
                with session.begin():
                    published = mark_abandoned_carts(session, shop_id, cutoff)
                if published:
                    marked[shop_id] = len(published)
        return {"abandoned": marked}
