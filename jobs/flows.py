"""Jobs of the flow engine (app/flows/runner.py). Ids in, never objects.

- `sweep_due()`: periodic (60 s, jobs/worker.py; `flask --app app tick` runs it once). In
  order: the sending policy's upkeep (messages queued whose job was lost are enqueued again;
  messages left "sending" by a stopped worker are resolved, never resent), the shoppers who
  enter the date and lapsed flows (at most every CANDIDATES_PERIOD per flow), then every due
  step of live flows' runs, in batches locked with `FOR UPDATE SKIP LOCKED`, so any number
  of workers sweeping at once never advance one run twice. Due times are in the database:
  a lost queue or a Redis restart delays a step by a sweep, never loses it.
- `advance_run(run_id)`: run a new run's first steps right after its trigger commits
  (enqueued by the flows subscriber); a run another worker holds is left to it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import select

from app.db import db, utcnow
from app.flows import runner
from app.flows.models import LIVE, Flow
from app.queue import get_redis
from jobs.context import app_context

log = logging.getLogger(__name__)

CANDIDATES_PERIOD_SECONDS = 15 * 60


def maintain_messages(session, now: datetime) -> dict:
    """The sending policy's upkeep (app/flows/sending.py): queued messages whose job was
    lost, messages a stopped worker left `sending`; commits."""
    from app.flows import sending

    requeued = sending.requeue_stale(session)
    resolved = sending.resolve_unknown(session, now)
    session.commit()
    return {"requeued": requeued, "resolved": resolved}


def _candidate_flows_due(session) -> list[int]:
    """Live date/lapsed flows not scanned within CANDIDATES_PERIOD (claimed in Redis, so one
    worker scans each; without Redis every sweep scans, which enters no one twice)."""
    flows = session.execute(select(Flow.id, Flow.definition).where(Flow.status == LIVE)
                            .order_by(Flow.id)).all()
    due = []
    for flow_id, definition in flows:
        if ((definition or {}).get("trigger") or {}).get("type") not in ("date", "lapsed"):
            continue
        try:
            claimed = get_redis().set(f"sticky:flows:candidates:{flow_id}", 1, nx=True,
                                      ex=CANDIDATES_PERIOD_SECONDS)
        except RedisError:
            claimed = True
        if claimed:
            due.append(flow_id)
    session.commit()
    return due


def sweep_due() -> dict:
    with app_context():
        now = utcnow()
        with db.new_session() as session:
            upkeep = maintain_messages(session, now)
            flow_ids = _candidate_flows_due(session)
            entered = runner.enter_candidates(session, now, flow_ids=flow_ids) if flow_ids else 0
            swept = runner.sweep(session, now)
    result = {**swept, "entered": entered, **upkeep}
    if swept["advanced"] or entered or swept["failed"]:
        log.info("flows.swept", extra=result)
    return result


def advance_run(run_id: int) -> dict:
    with app_context():
        with db.new_session() as session:
            status = runner.advance_locked(session, run_id, utcnow())
            session.commit()
    return {"run_id": run_id, "status": status}
