"""Who is in a saved segment, asked the moment it matters: a flow's filter or split step
(one shopper) and the customer list filtered by a segment (`?segment=<id>`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.customers.query import CustomerFilters
from app.profiles.models import Customer
from app.segments.models import Segment
from app.segments.rules import compile_rules, where
from app.settings.timezone import shop_zone
from app.shops.models import Shop


def member_of(session: Session, shop_id: int, customer_id: int, segment_ids: set[int],
              now: datetime) -> set[int]:
    """Which of `segment_ids` (the store's saved segments) the shopper is in now, in one
    round trip. A segment id that is not the store's (deleted since) has no members."""
    if not segment_ids:
        return set()
    segments = list(session.execute(select(Segment).where(
        Segment.shop_id == shop_id, Segment.id.in_(sorted(segment_ids)))).scalars())
    shop = session.get(Shop, shop_id)
    if not segments or shop is None:
        return set()
    zone = shop_zone(session, shop)
    tests = [exists(select(Customer.id).where(
        Customer.id == customer_id, Customer.shop_id == shop_id,
        Customer.deleted_at.is_(None), compile_rules(s.rules, shop_id, zone, now)))
        for s in segments]
    answers = session.execute(select(*tests)).one()
    return {s.id for s, inside in zip(segments, answers, strict=True) if inside}


def resolve_filters(session: Session, shop: Shop, filters: CustomerFilters,
                    now: datetime | None = None) -> tuple[CustomerFilters, str | None]:
    """The list's filters with `segment` read as a saved segment when it is an id (an RFM
    group's name stays an RFM filter), or why not: (filters, message)."""
    if not filters.segment.isdigit():
        return filters, None
    segment = session.execute(select(Segment).where(
        Segment.shop_id == shop.id, Segment.id == int(filters.segment[:18]))
    ).scalar_one_or_none()
    if segment is None:
        return filters, f"no segment {filters.segment} in this store"
    return replace(filters, segment_where=where(session, shop, segment.rules, now)[2]), None


def members_among(session: Session, shop_id: int, segment_ids: set[int],
                  customer_ids: list[int], now: datetime) -> dict[int, set[int]]:
    """{customer id: the ids of `segment_ids` it is in now} for `customer_ids`: one query
    per segment (a flow's backtest, which replays many shoppers at once)."""
    found: dict[int, set[int]] = {}
    shop = session.get(Shop, shop_id)
    if not segment_ids or not customer_ids or shop is None:
        return found
    zone = shop_zone(session, shop)
    for segment in session.execute(select(Segment).where(
            Segment.shop_id == shop_id, Segment.id.in_(sorted(segment_ids)))).scalars():
        for customer_id in session.execute(select(Customer.id).where(
                Customer.shop_id == shop_id, Customer.deleted_at.is_(None),
                Customer.id.in_(customer_ids),
                compile_rules(segment.rules, shop_id, zone, now))).scalars():
            found.setdefault(customer_id, set()).add(segment.id)
    return found
