"""Refitting stores' prediction models: periodic (jobs/worker.py) and on demand.

`refit_due` looks at each active store's latest fit in one query and refits only the stores
whose fit is older than a week (a day while below the gate: its data grows) or absent, so it
is cheap when there is nothing to do."""

from __future__ import annotations

import logging

from app.db import db, utcnow
from app.predictions.service import refit, shops_due_for_refit
from jobs.context import app_context

log = logging.getLogger(__name__)


def refit_due() -> dict:
    """Refit every due store; returns which were refitted and how they came out."""
    refitted: dict[int, str] = {}
    with app_context():
        with db.new_session() as session:
            due = shops_due_for_refit(session, utcnow())
        for shop_id in due:
            with db.new_session() as session:
                try:
                    model = refit(session, shop_id)
                    session.commit()
                    refitted[shop_id] = model.status
                except Exception:  # noqa: BLE001 - one store's failure stops no other
                    session.rollback()
                    log.exception("predictions.refit_failed", extra={"shop_id": shop_id})
                    refitted[shop_id] = "error"
    return {"refitted": [f"{shop}: {status}" for shop, status in refitted.items()]}


def refit_shop(shop_id: int) -> str:
    """Refit one store now (the panel's "Refit now"); returns the fit's status."""
    with app_context():
        with db.new_session() as session:
            model = refit(session, shop_id)
            session.commit()
            return model.status

