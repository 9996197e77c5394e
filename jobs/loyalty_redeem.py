"""Jobs that finish redemptions whose code the platform did not confirm (app/loyalty/issuing.py).
Ids in, never objects.

- `retry_redemption(redemption_id)`: enqueued (delayed) after an attempt got no usable
  answer; looks the code up on the platform and creates it only if absent.
- `sweep_held_redemptions()`: periodic (jobs/worker.py); retries every redemption held for
  longer than `HELD_SWEEP_AFTER` (a lost job, a crash between the hold and the call).
"""

from __future__ import annotations

import logging

from app.db import db
from app.loyalty import issuing
from jobs.context import app_context

log = logging.getLogger(__name__)

SWEEP_PERIOD_SECONDS = 5 * 60


def retry_redemption(redemption_id: int) -> dict:
    with app_context():
        with db.new_session() as session:
            status = issuing.retry(session, redemption_id)
    log.info("loyalty.redemption.retried", extra={"redemption_id": redemption_id,
                                                  "status": status})
    return {"redemption_id": redemption_id, "status": status}


def sweep_held_redemptions() -> dict:
    with app_context():
        with db.new_session() as session:
            outcomes = {}
            for redemption_id in issuing.stale_holds(session):
                outcomes[redemption_id] = issuing.retry(session, redemption_id)
    if outcomes:
        log.info("loyalty.redemption.swept", extra={"outcomes": outcomes})
    return {"retried": outcomes}
