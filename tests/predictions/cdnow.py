"""The CDNOW sample (2,357 customers of the 1997 Q1 cohort, Jan 1997 - Jun 1998), read from
the `lifetimes` wheel downloaded once into ~/.cache/sticky-test-data (never committed), and
loaded into a shop through the profile store as a history import."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.records import CustomerRecord, OrderRecord
from tests.predictions.support import load

CACHE = Path.home() / ".cache" / "sticky-test-data"
WHEEL = "Lifetimes-0.11.3-py3-none-any.whl"
MEMBER = "lifetimes/datasets/CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT_END = date(1998, 6, 30)


def cdnow_rows() -> list[tuple[str, date, Decimal]]:
    """(customer id, date, amount) per line of CDNOW_sample.txt; skips the test, saying why,
    when the wheel cannot be had."""
    wheel = CACHE / WHEEL
    if not wheel.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "lifetimes==0.11.3", "--no-deps",
             "-d", str(CACHE)], capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not wheel.exists():
            pytest.skip("the CDNOW data could not be had: `pip download lifetimes==0.11.3` "
                        f"failed: {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(MEMBER).decode("ascii")
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        customer, _second_id, day, _quantity, amount = line.split()
        rows.append((customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), Decimal(amount)))
    return rows


def load_cdnow(session, shop_id: int, rows) -> None:
    """Each line an order placed at noon UTC that day, each customer a profile; imported as
    the store's history (before the shop's install), so no event is published."""
    people: dict[str, CustomerRecord] = {}
    records = []
    for number, (customer, day, amount) in enumerate(rows):
        who = people.get(customer)
        if who is None:
            who = people[customer] = CustomerRecord(
                platform_id=f"cdnow-{customer}", email=f"c{customer}@cdnow.example",
                created_at=datetime(1997, 1, 1, tzinfo=UTC),
                updated_at=datetime(1997, 1, 1, tzinfo=UTC))
        placed = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        records.append(OrderRecord(platform_id=f"cdnow-{number}", placed_at=placed,
                                   updated_at=placed, currency="USD", total_price=amount,
                                   customer=who, email=who.email, financial_status="paid"))
    load(session, shop_id, records, history=True)
