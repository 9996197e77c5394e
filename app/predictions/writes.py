"""Writing predicted figures onto customers in bulk.

PostgreSQL: one UPDATE ... FROM unnest(arrays) per 250,000 customers (a handful of
parameters whatever the count, sent as array literals). Elsewhere: an executemany UPDATE by id.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import bindparam, text, update
from sqlalchemy.orm import Session

from app.db import utcnow
from app.predictions.data import Summary, end_of_day
from app.predictions.scoring import Scores, tiers
from app.profiles.models import Customer
from app.profiles.writer import among_values

_C = Customer.__table__
CHUNK = 250_000  # rows per UPDATE: each statement scans the shop's customers once
CENT = Decimal("0.01")
PREDICTED = ("churn_risk", "predicted_clv", "expected_orders_30", "expected_orders_90",
             "expected_orders_365", "next_order_expected_at", "predicted_spend_tier",
             "predictions_scored_at")

_UNNEST_UPDATE = text("""
UPDATE customers AS c SET
  churn_risk = v.churn, predicted_clv = round(CAST(v.clv AS numeric), 2),
  expected_orders_30 = v.e30, expected_orders_90 = v.e90, expected_orders_365 = v.e365,
  next_order_expected_at = CASE WHEN v.next_days IS NULL THEN NULL
    ELSE CAST(:day0 AS timestamptz) + make_interval(days => v.next_days) END,
  predicted_spend_tier = v.tier, predictions_scored_at = :stamp
FROM unnest(CAST(:ids AS bigint[]), CAST(:churn AS float8[]), CAST(:clv AS float8[]),
            CAST(:e30 AS float8[]), CAST(:e90 AS float8[]), CAST(:e365 AS float8[]),
            CAST(:next_days AS integer[]), CAST(:tier AS text[]))
  AS v(id, churn, clv, e30, e90, e365, next_days, tier)
WHERE c.id = v.id AND c.shop_id = :shop_id
""")


def _literal(values: list) -> str:
    """A PostgreSQL array literal of numbers, NULLs or plain words (tiers), cast in SQL:
    building the text is many times faster than the driver adapting a long list."""
    return "{" + ",".join("NULL" if v is None else repr(v) if isinstance(v, float) else str(v)
                          for v in values) + "}"


def _nullable(values: np.ndarray) -> list:
    return [float(v) if np.isfinite(v) else None for v in values.tolist()]


def write_scores(session: Session, shop_id: int, data: Summary, scores: Scores, cuts,
                 as_of: date, *, all_buyers: bool) -> int:
    """Store the scores of `data`'s customers; with `all_buyers` also clear the predictions of
    the shop's customers that are no longer buyers. Returns how many were written."""
    stamp = utcnow()
    day0 = end_of_day(as_of) - timedelta(days=1)
    ids = data.customer_id.tolist()
    churn = (1.0 - scores.p_alive).tolist()
    clv = _nullable(scores.clv)
    e30, e90, e365 = (scores.expected[d].tolist() for d in (30, 90, 365))
    next_days = [int(v) if np.isfinite(v) else None for v in scores.next_order_days.tolist()]
    tier = tiers(scores.clv, cuts)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        for start in range(0, len(ids), CHUNK):
            part = slice(start, start + CHUNK)
            conn.execute(_UNNEST_UPDATE, {
                "ids": _literal(ids[part]), "churn": _literal(churn[part]),
                "clv": _literal(clv[part]), "e30": _literal(e30[part]),
                "e90": _literal(e90[part]), "e365": _literal(e365[part]),
                "next_days": _literal(next_days[part]), "tier": _literal(tier[part]),
                "day0": day0, "stamp": stamp, "shop_id": shop_id})
    elif ids:
        rows = [{"b_id": ids[i], "b_churn": churn[i],
                 "b_clv": None if clv[i] is None else Decimal(repr(clv[i])).quantize(CENT),
                 "b_e30": e30[i], "b_e90": e90[i], "b_e365": e365[i],
                 "b_next": None if next_days[i] is None else day0 + timedelta(days=next_days[i]),
                 "b_tier": tier[i]} for i in range(len(ids))]
        conn.execute(
            update(_C).where(_C.c.id == bindparam("b_id"), _C.c.shop_id == shop_id).values(
                churn_risk=bindparam("b_churn"), predicted_clv=bindparam("b_clv"),
                expected_orders_30=bindparam("b_e30"), expected_orders_90=bindparam("b_e90"),
                expected_orders_365=bindparam("b_e365"),
                next_order_expected_at=bindparam("b_next"),
                predicted_spend_tier=bindparam("b_tier"), predictions_scored_at=stamp),
            rows)
    if all_buyers:
        conn.execute(update(_C).where(
            _C.c.shop_id == shop_id, _C.c.predictions_scored_at < stamp
        ).values(**{name: None for name in PREDICTED}))
    return len(ids)


def clear_scores(session: Session, shop_id: int, customer_ids=None) -> None:
    """Null the predicted fields of the shop's customers (or of `customer_ids`)."""
    conn = session.connection()
    cleared = {name: None for name in PREDICTED}
    if customer_ids is None:
        conn.execute(update(_C).where(_C.c.shop_id == shop_id,
                                      _C.c.predictions_scored_at.is_not(None)).values(**cleared))
        return
    for among in among_values(conn, _C.c.id, set(customer_ids)):
        conn.execute(update(_C).where(_C.c.shop_id == shop_id, among).values(**cleared))
