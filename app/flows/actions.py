"""A flow's actions other than email: award points, make a unique discount code, add a tag.

Each is made under the natural key of its (run, step), so a retried job, a second worker or
a replay makes it once:

- **points**: a loyalty ledger entry keyed `flow:<run>:<step>` (`app.loyalty.ledger.append`
  inserts nothing when the key exists); the member's balance moves with it and the platform
  write-back is requested;
- **discount code**: a code-only redemption (no points) of the loyalty program's discount
  path, `idempotency_key` `flow:<run>:<step>`: committed "held" with its code chosen, then
  made on the platform by `jobs.loyalty_redeem.retry_redemption` (enqueued after commit),
  which looks the code up before creating it, so a retry never makes two; the periodic
  sweep of held redemptions finishes one whose job was lost. The code is known at once, so
  the next email can show it;
- **tag**: the merchant tags of the profile (`app.customers.notes.add_tag`: unique per
  profile and tag, on the timeline), authored by the flow.

Each returns the step's `detail` (what was made) for `flow_run_steps`, or raises
`ActionSkipped` (the loyalty program is off, a tag the profile cannot take) to have the step
recorded as skipped with why.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import after_commit, insert_for
from app.flows.models import Flow, FlowRun
from app.loyalty import issuing, ledger, writeback
from app.loyalty.models import EARN, HELD, Redemption
from app.profiles.models import Customer

log = logging.getLogger(__name__)

_RD = Redemption.__table__
PURPOSE = "flow"
CODE_ATTEMPTS = 5


class ActionSkipped(Exception):
    """The action cannot be made for this shopper or store; `reason` is recorded on the
    step (skipped) and the run goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def natural_key(run: FlowRun, step_id: str) -> str:
    return f"flow:{run.id}:{step_id}"


def award_points(session: Session, run: FlowRun, flow: Flow, step: dict[str, Any],
                 now: datetime) -> dict[str, Any]:
    from app.loyalty.program import read_program

    if not read_program(session, run.shop_id).enabled:
        raise ActionSkipped("the loyalty program is off: no points awarded")
    points = int(step["points"])
    reason = (step.get("reason") or "").strip() or f"From {flow.name}"
    ledger.lock_member(session, run.shop_id, run.customer_id)
    entry_id = ledger.append(session, run.shop_id, ledger.NewEntry(
        customer_id=run.customer_id, kind=EARN, points=points, reason=reason[:500],
        source=PURPOSE, key=natural_key(run, step["id"]), created_at=now))
    if entry_id is not None:
        writeback.mark_due(session, run.shop_id, [run.customer_id])
    return {"points": points, "entry_key": natural_key(run, step["id"])}


def _request_issue(redemption_ids: list[int]) -> None:
    from app.queue import get_queue

    for redemption_id in redemption_ids:
        try:
            get_queue("default").enqueue(issuing.RETRY_JOB, redemption_id, job_timeout=120,
                                         result_ttl=600, failure_ttl=7 * 24 * 3600)
        except RedisError:  # the held-redemption sweep makes it later
            log.warning("flows.discount_enqueue_failed",
                        extra={"redemption_id": redemption_id}, exc_info=True)


def discount(session: Session, run: FlowRun, flow: Flow, step: dict[str, Any],
             now: datetime) -> dict[str, Any]:
    from app.loyalty.redeem import new_code

    key = natural_key(run, step["id"])
    kind = step["kind"]
    value = "0" if kind == "free_shipping" else str(Decimal(str(step["value"])))
    days = int(step.get("expires_after_days", 14))
    minimum = step.get("minimum_order")
    email = session.execute(select(Customer.email).where(
        Customer.id == run.customer_id)).scalar()
    title = f"{flow.name}: {'free shipping' if kind == 'free_shipping' else value}"
    reward = {"name": flow.name, "title": title[:255], "kind": kind, "value": value,
              "minimum_order": None if minimum in (None, "") else str(minimum),
              "expires_after_days": days}
    existing = session.execute(select(_RD.c.id, _RD.c.code, _RD.c.created_at).where(
        _RD.c.shop_id == run.shop_id, _RD.c.idempotency_key == key)).first()
    if existing is None:
        for _ in range(CODE_ATTEMPTS):
            # A code collision (one in 10^15) draws again; a key collision is a twin's row.
            inserted = session.execute(
                insert_for(session, _RD).values(
                    shop_id=run.shop_id, customer_id=run.customer_id, email=email,
                    reward_id=None, reward=reward, points=0, status=HELD, code=new_code(),
                    idempotency_key=key, attempts=0, purpose=PURPOSE, created_at=now)
                .on_conflict_do_nothing().returning(_RD.c.id)).first()
            existing = session.execute(select(_RD.c.id, _RD.c.code, _RD.c.created_at).where(
                _RD.c.shop_id == run.shop_id, _RD.c.idempotency_key == key)).first()
            if existing is not None:
                if inserted is not None:
                    after_commit(session, "flows.discounts", [existing.id], _request_issue)
                break
        else:
            raise RuntimeError("could not draw a unique discount code")
    return {"code": existing.code, "redemption_id": existing.id, "kind": kind,
            "value": value, "minimum_order": reward["minimum_order"],
            "expires_at": (existing.created_at + timedelta(days=days)).isoformat()}


def add_tag(session: Session, run: FlowRun, flow: Flow, step: dict[str, Any],
            now: datetime) -> dict[str, Any]:
    from app.customers.notes import InvalidInput
    from app.customers.notes import add_tag as add_merchant_tag

    customer = session.execute(select(Customer).where(
        Customer.id == run.customer_id, Customer.shop_id == run.shop_id)).scalar_one()
    try:
        result = add_merchant_tag(session, customer, step["tag"], f"Flow: {flow.name}"[:120])
    except InvalidInput as exc:
        raise ActionSkipped(f"tag not added: {exc}") from exc
    return {"tag": result.tag.tag, "added": result.created}


ACTIONS = {"award_points": award_points, "discount": discount, "tag": add_tag}
