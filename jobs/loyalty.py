"""Loyalty program jobs. Ids in, never objects; each is safe to run twice (effects are
ledger entries under natural keys).

- `release_due()`: periodic; pending points whose return window is over become spendable
  (app/loyalty/release.py).
"""

from __future__ import annotations

import logging

from app.db import db
from app.loyalty.release import release_due as release_due_points
from jobs.context import app_context

log = logging.getLogger(__name__)


def release_due() -> dict:
    with app_context():
        with db.new_session() as session:
            released = release_due_points(session)
        if released:
            log.info("loyalty.released", extra={"points": released})
        return {"released": released}
