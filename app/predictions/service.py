"""Fitting a shop's models and scoring its customers.

`refit` fits BG/NBD (in weeks, as the paper reports it) and Gamma-Gamma on the shop's
counted orders up to the as-of day, stores a `PredictionModel` row and scores every buyer
in bulk. `score_customers` rescores some customers with the stored parameters (new and
changed orders between fits). Below the gate (MIN_BUYERS, MIN_HISTORY_DAYS,
MIN_REPEAT_BUYERS, the published-style minimums the models need to be estimated at all)
the row says which figure is short and by how much, and the predicted fields stay null.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.predictions import bgnbd, calibration, gamma_gamma
from app.predictions.bgnbd import BGNBDParams
from app.predictions.data import Summary, end_of_day, summary
from app.predictions.gamma_gamma import GammaGammaParams
from app.predictions.models import FAILED, FITTED, NOT_ENOUGH_DATA, PredictionModel
from app.predictions.scoring import DAYS_PER_WEEK, score, tier_cuts
from app.predictions.writes import clear_scores, write_scores
from app.shops.models import Shop

log = logging.getLogger(__name__)

MIN_BUYERS = 200
MIN_HISTORY_DAYS = 90
MIN_REPEAT_BUYERS = 50
REFIT_AFTER_DAYS = 7
TIME_UNIT = "weeks"


def current_model(session: Session, shop_id: int) -> PredictionModel | None:
    """The shop's latest fit attempt, whatever its status."""
    return session.scalars(
        select(PredictionModel).where(PredictionModel.shop_id == shop_id)
        .order_by(PredictionModel.fitted_at.desc(), PredictionModel.id.desc()).limit(1)
    ).first()


def gate_shortfalls(buyers: int, history_days: int, repeat_buyers: int) -> list[str]:
    """What keeps a shop below the gate, one sentence per short figure (empty = passes)."""
    short = []
    if buyers < MIN_BUYERS:
        short.append(f"{buyers} buyers, {MIN_BUYERS - buyers} short of the {MIN_BUYERS} needed")
    if history_days < MIN_HISTORY_DAYS:
        short.append(f"{history_days} days of order history, {MIN_HISTORY_DAYS - history_days}"
                     f" short of the {MIN_HISTORY_DAYS} needed")
    if repeat_buyers < MIN_REPEAT_BUYERS:
        short.append(f"{repeat_buyers} repeat buyers, {MIN_REPEAT_BUYERS - repeat_buyers} short"
                     f" of the {MIN_REPEAT_BUYERS} needed")
    return short


def fit_summary(data: Summary) -> tuple[BGNBDParams, GammaGammaParams | None]:
    """Both models on a summary in days; BG/NBD reported in weeks. Gamma-Gamma is None when
    its fit gives q <= 1 (an infinite mean spend), which the callers report."""
    bg = bgnbd.fit(data.frequency, data.recency / DAYS_PER_WEEK, data.age / DAYS_PER_WEEK,
                   time_unit=TIME_UNIT)
    gg = gamma_gamma.fit(data.frequency, data.monetary)
    return bg, (gg if gg.q > 1 else None)


def refit(session: Session, shop_id: int, as_of: date | None = None) -> PredictionModel:
    """Fit on orders up to the end of `as_of` (default: today, UTC), store the fit and score
    every buyer as of that day. Flushes, commits nothing."""
    as_of = as_of or utcnow().date()
    started = time.perf_counter()
    data = summary(session, shop_id, as_of)
    buyers = len(data)
    repeat_buyers = int((data.frequency > 0).sum())
    history_days = int(data.age.max()) if buyers else 0
    row = PredictionModel(shop_id=shop_id, as_of=_midnight(as_of), fitted_at=utcnow(),
                          buyers=buyers, repeat_buyers=repeat_buyers,
                          history_days=history_days, scored_customers=0)
    short = gate_shortfalls(buyers, history_days, repeat_buyers)
    if short:
        row.status, row.reason = NOT_ENOUGH_DATA, "Not enough data yet: " + "; ".join(short) + "."
        clear_scores(session, shop_id)
    else:
        try:
            bg, gg = fit_summary(data)
            if not bg.converged:
                raise ArithmeticError("the BG/NBD likelihood did not converge")
        except (ValueError, ArithmeticError, FloatingPointError) as exc:
            row.status, row.reason = FAILED, f"The fit failed: {exc}"
            log.warning("predictions.fit_failed", extra={"shop_id": shop_id, "error": str(exc)})
            clear_scores(session, shop_id)
        else:
            scores = score(bg, gg, data.frequency, data.recency, data.age, data.monetary)
            cuts = tier_cuts(scores.clv)
            row.status = FITTED
            row.reason = None if gg is not None else (
                "The spend model gave q <= 1 (no finite mean order value): predicted CLV and "
                "spend tier are not shown.")
            row.bgnbd = _bg_json(bg)
            row.gamma_gamma = _gg_json(gg, cuts)
            row.scored_customers = write_scores(session, shop_id, data, scores, cuts, as_of,
                                                all_buyers=True)
            row.calibration = calibration.build(session, shop_id, as_of, data, bg)
    row.fit_seconds = round(time.perf_counter() - started, 3)
    session.add(row)
    session.flush()
    log.info("predictions.refit", extra={"shop_id": shop_id, "status": row.status,
                                         "buyers": buyers, "seconds": row.fit_seconds})
    return row


def score_customers(session: Session, shop_id: int, customer_ids, as_of: date | None = None
                    ) -> int:
    """Rescore `customer_ids` with the shop's stored fit, as of `as_of` (default today);
    returns how many were scored. Without a fitted model nothing changes."""
    model = current_model(session, shop_id)
    ids = {int(i) for i in customer_ids}
    if model is None or model.status != FITTED or not ids:
        return 0
    as_of = as_of or utcnow().date()
    bg, gg, cuts = params_of(model)
    data = summary(session, shop_id, as_of, customer_ids=ids)
    scores = score(bg, gg, data.frequency, data.recency, data.age, data.monetary)
    written = write_scores(session, shop_id, data, scores, cuts, as_of, all_buyers=False)
    gone = ids - {int(i) for i in data.customer_id}
    if gone:  # their orders were cancelled or removed: no buyer, no prediction
        clear_scores(session, shop_id, gone)
    return written


def params_of(model: PredictionModel
              ) -> tuple[BGNBDParams, GammaGammaParams | None, list[float] | None]:
    bg_json = model.bgnbd or {}
    bg = BGNBDParams(r=bg_json["r"], alpha=bg_json["alpha"], a=bg_json["a"], b=bg_json["b"],
                     log_likelihood=bg_json["log_likelihood"],
                     time_unit=bg_json.get("time_unit", TIME_UNIT))
    gg_json = model.gamma_gamma or {}
    gg = None
    if gg_json.get("q") is not None and gg_json["q"] > 1:
        gg = GammaGammaParams(p=gg_json["p"], q=gg_json["q"], gamma=gg_json["gamma"],
                              log_likelihood=gg_json.get("log_likelihood", 0.0))
    return bg, gg, gg_json.get("clv_tier_cuts")


def shops_due_for_refit(session: Session, now: datetime) -> list[int]:
    """Active shops whose latest fit is older than REFIT_AFTER_DAYS (a day while below the
    gate or failed: their data grows), or that have none; one query."""
    latest = (select(PredictionModel.shop_id, func.max(PredictionModel.fitted_at).label("at"))
              .group_by(PredictionModel.shop_id).subquery())
    status = (select(PredictionModel.status)
              .where(PredictionModel.shop_id == Shop.id,
                     PredictionModel.fitted_at == latest.c.at)
              .order_by(PredictionModel.id.desc()).limit(1).scalar_subquery())
    rows = session.execute(
        select(Shop.id, latest.c.at, status)
        .outerjoin(latest, latest.c.shop_id == Shop.id)
        .where(Shop.status == "active").order_by(Shop.id)
    ).all()
    due = []
    for shop_id, fitted_at, last_status in rows:
        days = REFIT_AFTER_DAYS if last_status == FITTED else 1
        if fitted_at is None or fitted_at <= now - timedelta(days=days):
            due.append(shop_id)
    return due


def _midnight(day: date) -> datetime:
    return end_of_day(day) - timedelta(days=1)


def _bg_json(bg: BGNBDParams) -> dict[str, Any]:
    return {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "time_unit": bg.time_unit,
            "log_likelihood": bg.log_likelihood, "customers": bg.customers,
            "iterations": bg.iterations}


def _gg_json(gg: GammaGammaParams | None, cuts) -> dict[str, Any] | None:
    if gg is None:
        return None
    return {"p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood,
            "customers": gg.customers, "mean_order_value": gg.p * gg.gamma / (gg.q - 1),
            "clv_tier_cuts": cuts}
