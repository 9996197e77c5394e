"""A small synthetic store for the service, API, CLI and panel tests: buyers and their
orders go through the profile store as a history import, dated relative to a given day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np

from app.profiles.figures import refresh_all_customer_figures
from app.profiles.store import ProfileStore
from connectors.records import CustomerRecord, OrderRecord


def person(key: str) -> CustomerRecord:
    at = datetime(2020, 1, 1, tzinfo=UTC)
    return CustomerRecord(platform_id=f"syn-{key}", email=f"{key}@example.com",
                          first_name=key.title(), created_at=at, updated_at=at)


def order_record(key: str, who: CustomerRecord, day: date, total: str, **more) -> OrderRecord:
    placed = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return OrderRecord(platform_id=f"o-{key}", placed_at=placed, updated_at=placed,
                       currency="USD", total_price=Decimal(total), customer=who,
                       email=who.email, financial_status=more.pop("financial_status", "paid"),
                       **more)


def synthetic_orders(*, buyers: int, repeaters: int, start: date, days: int, seed: int = 1):
    """`buyers` customers with a first order in the first half of `days` from `start`;
    the first `repeaters` of them order again, about every 10 to 40 days, each dropping out
    with a chance of 0.3 after every repeat order (the BG/NBD story)."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(buyers):
        who = person(f"b{i}")
        first = int(rng.integers(0, days // 2))
        order_days = [first]
        if i < repeaters:
            gap = float(rng.uniform(10, 40))
            day = first + 1 + int(rng.integers(0, days - first - 1))
            while day < days:
                order_days.append(day)
                if rng.random() < 0.3:
                    break
                day += 1 + int(rng.exponential(gap))
        for k, d in enumerate(order_days):
            total = f"{20 + int(rng.integers(0, 60))}.{int(rng.integers(0, 100)):02d}"
            records.append(order_record(f"b{i}-{k}", who, start + timedelta(days=d), total))
    return records


def load(session, shop_id: int, records, *, history: bool = True) -> None:
    installed = datetime(2100, 1, 1, tzinfo=UTC) if history else None
    for begin in range(0, len(records), 1000):
        batch = records[begin:begin + 1000]
        store = ProfileStore(session, shop_id, defer_figures=True, history_before=installed)
        store.prefetch(batch)
        for record in batch:
            store.apply(record)
        store.finish()
        session.commit()
    refresh_all_customer_figures(session, shop_id)
    session.commit()


def fitted_store(session, shop_id: int, today: date) -> None:
    """A store that passes the gate: 240 buyers, 90 of them repeat, over 200 days to today."""
    load(session, shop_id, synthetic_orders(buyers=240, repeaters=90,
                                            start=today - timedelta(days=200), days=200))
