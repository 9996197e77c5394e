"""Cohorts by month of first order (`app.analytics.cohorts`, `GET /api/cohorts`) on the
analytics fixture store (tests/analytics/store.py), New York, as of 15 April 2026.

Counted orders by customer (local dates, revenue net of refunds):
Hal H0 5 Jan 30, H1 25 Mar 45 -> January cohort.
Ada A0 10 Feb 50, A1 5 Mar 70; Cy C1 28 Feb 21:00 70 (1 Mar 02:00 UTC), C2 31 Mar 60;
Ivy I1 20 Feb 55 -> February cohort (Cy would be March's in UTC).
Bob B1 10 Mar 80, B2 20 Mar 40; Dee D1 15 Mar 25 (guest); Gus G1 1 Mar 15 -> March.
Fay F1 1 Apr 01:00 90 -> April. N1 (no customer) and B3/E1/E2 (not counted): no cohort.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft202012Validator

from app.analytics.cohorts import store_cohorts
from app.analytics.periods import parse_period
from app.api.cohorts import COHORTS
from app.db import db
from tests.analytics.store import build_analytics_store
from tests.test_metrics_api import get

NEW_YORK = ZoneInfo("America/New_York")
APRIL_15 = date(2026, 4, 15)


@pytest.fixture
def store(ctx, shop, other_shop):
    return build_analytics_store(shop, other_shop)


def cohorts(first: str, last: str, store, today: date = APRIL_15):
    period = parse_period(NEW_YORK, first=first, last=last, interval="month", today=today)
    return store_cohorts(db.session, store.shop, period, today=today)


def test_the_retention_matrix_and_revenue_per_cohort(store):
    result = cohorts("2026-01-01", "2026-04-30", store)

    assert [(c.month, c.size) for c in result.cohorts] == [
        (date(2026, 1, 1), 1), (date(2026, 2, 1), 3), (date(2026, 3, 1), 3),
        (date(2026, 4, 1), 1)]
    jan, feb, mar, apr = result.cohorts
    # Who ordered in each month from the cohort's own (month 0: a second order in it)
    assert [(x.offset, x.customers) for x in jan.cells] == [(0, 0), (1, 0), (2, 1), (3, 0)]
    assert [x.retention(jan.size) for x in jan.cells] == [
        Decimal("0"), Decimal("0"), Decimal("1.0000"), Decimal("0")]
    # February: Ada and Cy came back in March, 2 of 3
    assert [x.customers for x in feb.cells] == [0, 2, 0]
    assert feb.cells[1].retention(feb.size) == Decimal("0.6667")
    # March: Bob ordered twice in March, 1 of 3
    assert [x.customers for x in mar.cells] == [1, 0]
    assert mar.cells[0].retention(mar.size) == Decimal("0.3333")
    assert [x.customers for x in apr.cells] == [0]
    # Revenue: Feb 50 + 70 + 55 = 175; Mar 70 + 60 = 130
    assert [x.revenue for x in feb.cells] == [Decimal("175.00"), Decimal("130.00"),
                                              Decimal("0")]
    assert [x.cumulative_revenue for x in feb.cells] == [
        Decimal("175.00"), Decimal("305.00"), Decimal("305.00")]
    assert [x.cumulative_revenue for x in jan.cells] == [
        Decimal("30.00"), Decimal("30.00"), Decimal("75.00"), Decimal("75.00")]
    # March: 80 + 40 + 25 + 15
    assert mar.cells[0].revenue == Decimal("160.00")
    # April is still running on 15 April
    assert [x.complete for x in jan.cells] == [True, True, True, False]
    assert result.max_offset == 3


def test_the_range_chooses_the_cohorts_and_empty_months_have_none(store):
    result = cohorts("2026-02-15", "2026-03-10", store)

    # February and March cohorts, whole months, followed to April
    assert [(c.month.month, c.size, len(c.cells)) for c in result.cohorts] == [
        (2, 3, 3), (3, 3, 2)]
    assert [c.size for c in cohorts("2025-11-01", "2025-12-31", store).cohorts] == [0, 0]


def test_api_cohorts(client, store):
    # The API follows the cohorts to the shop's today: months after April are empty cells
    response = get(client, "/api/cohorts", **{"from": "2026-02-01", "to": "2026-02-28"})

    assert response.status_code == 200
    body = response.get_json()
    Draft202012Validator(COHORTS).validate(body)
    (feb,) = body["cohorts"]
    assert (feb["month"], feb["size"]) == ("2026-02", 3)
    assert [(m["month"], m["customers"], m["retention"]) for m in feb["months"][:3]] == [
        ("2026-02", 0, "0.0000"), ("2026-03", 2, "0.6667"), ("2026-04", 0, "0.0000")]
    assert [m["cumulative_revenue_per_customer"] for m in feb["months"][:2]] == [
        "58.33", "101.67"]  # 175 / 3, 305 / 3
    assert feb["revenue"] == "305.00"
    assert feb["revenue_per_customer"] == "101.67"
    assert body["definitions"]["month_0"].startswith("Share of the cohort")


@pytest.mark.parametrize(("query", "field"), [
    ({"from": "2026-02-30"}, "from"),
    ({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
    ({"range": "forever"}, "range"),
    ({"from": "2010-01-01", "to": "2026-01-01"}, "from"),
])
def test_api_cohorts_bad_input(client, store, query, field):
    response = get(client, "/api/cohorts", **query)

    assert response.status_code == 400
    assert response.get_json()["field"] == field
    assert response.get_json()["message"]


def test_api_cohorts_is_in_openapi(client):
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/cohorts" in spec["paths"]
