"""Running a run's steps: from its due step until a wait that ends later, or the end.

`advance(session, run, now)` is called with the run's row locked (the sweep's
`FOR UPDATE SKIP LOCKED`, or `advance_locked`), so two workers never advance one run at once;
and every effect of a step is keyed by (run, step), so even a step run twice (a crash after
the effect, before the commit) makes nothing twice.

Before each step that reaches the shopper (email, points, code, tag) the exit conditions are
asked (`app.flows.exits.exit_reason`: an order, unsubscribe, a deleted profile, the flow's
filters no longer holding); a stop is recorded on the run with its reason. Then, by the
step's type:

- **wait**: the run moves past it, due `minutes` after the wait was reached, or at the next
  `HH:MM` in the shop's time zone (at or after that moment). A lost queue loses nothing:
  the due time is `flow_runs.due_at`, which the sweep reads.
- **split**: its condition is checked on the profile as it is and the trigger's facts; the
  run goes on with the branch's first step (after the split when the branch is empty).
- **email**: handed to the sending policy (`app.flows.sending.queue_email`), which writes
  the message under its unique (run, step) or records why not; "deferred" (quiet hours)
  keeps the run on this step until then.
- **award_points**, **discount**, **tag**: `app.flows.actions`.

A held-out run goes through the same steps, but its email, points and discount steps are
recorded as held out and make nothing. Each step's outcome is a `flow_run_steps` row
(done, skipped with its reason, or held out), unique per (run, step).

A run follows the definition of the version it started on (`definition_of`), so editing a
live flow never changes what a run in progress does next. Only live flows' runs advance:
pausing holds them where they are, and resuming finds them there.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import insert_for
from app.flows import actions, conditions, exits
from app.flows.definition import Plan
from app.flows.models import (
    LIVE,
    RUN_ACTIVE,
    RUN_COMPLETED,
    STEP_DONE,
    STEP_HOLDOUT,
    STEP_SKIPPED,
    Flow,
    FlowRun,
    FlowRunStep,
)
from app.flows.service import definition_of
from app.profiles.models import Customer
from app.settings.timezone import shop_zone
from app.shops.models import Shop

log = logging.getLogger(__name__)

_S = FlowRunStep.__table__
MAX_STEPS_PER_ADVANCE = 200  # a definition has at most 50; a guard, never reached
ACTIVE_SHOP = "active"  # shops.status: an uninstalled store's runs are held
HELD_OUT_TYPES = frozenset({"email", "award_points", "discount"})
EFFECT_TYPES = frozenset({"email", "award_points", "discount", "tag"})
DEFERRED, QUEUED = "deferred", "queued"
RETRY_FAILED_AFTER = timedelta(minutes=5)


def queue_email(session: Session, run: FlowRun, flow: Flow, step: dict[str, Any],
                definition: dict[str, Any], now: datetime) -> Any:
    """The email step's outcome from the sending policy (`app.flows.sending`): an object with
    `status` ("queued" | "skipped" | "deferred"), `reason`, `message_pk`, `defer_until`, and
    `exited` (the run itself must stop, for `reason`)."""
    from app.flows import sending

    # `advance` has just asked the exit conditions for this step: not a second time.
    return sending.queue_email(session, run, flow, step, definition, now, exits_checked=True)


def record_step(session: Session, run: FlowRun, step: dict[str, Any], status: str,
                now: datetime, *, reason: str | None = None,
                detail: dict[str, Any] | None = None) -> bool:
    """The step's outcome, once: False when (run, step) already has one."""
    inserted = session.execute(
        insert_for(session, _S).values(
            shop_id=run.shop_id, run_id=run.id, step_id=step["id"], step_type=step["type"],
            status=status, reason=reason, detail=detail, at=now)
        .on_conflict_do_nothing(index_elements=["run_id", "step_id"])
        .returning(_S.c.id)).first()
    return inserted is not None


def wait_until(session: Session, run: FlowRun, step: dict[str, Any],
               reached: datetime) -> datetime:
    """When a wait reached at `reached` ends."""
    if "until" not in step:
        return reached + timedelta(minutes=int(step.get("minutes") or 0))
    hour, minute = (int(part) for part in step["until"].split(":"))
    shop = session.get(Shop, run.shop_id)
    zone = shop_zone(session, shop)
    local = reached.astimezone(zone)
    for days in range(0, 3):
        day = local.date() + timedelta(days=days)
        candidate = datetime.combine(day, time(hour, minute), tzinfo=zone)
        # A time the change to summer time skips comes an hour later (02:30 → 03:30); one
        # the change back repeats is its first occurrence (fold 0).
        candidate = candidate.astimezone(reached.tzinfo)
        if candidate >= reached:
            return candidate
    raise AssertionError("a time of day recurs within two days")


def _version(session: Session, flow: Flow, version: int) -> tuple[dict[str, Any], Plan]:
    """The definition (and its plan) a run on `version` follows. A version never changes
    once saved, so it is read once per transaction (once per flow in a sweep's batch)."""
    cache = session.info.setdefault("flows.versions", {})
    transaction = session.get_transaction()
    if cache.get("transaction") is not transaction:
        cache.clear()
        cache["transaction"] = transaction
    key = (flow.id, version)
    if key not in cache:
        definition = definition_of(session, flow.id, version) or flow.definition
        cache[key] = (definition, Plan(definition))
    return cache[key]


def _facts(session: Session, run: FlowRun, now: datetime,
           condition: Any) -> conditions.Facts | None:
    customer = session.get(Customer, run.customer_id)
    if customer is None:
        return None
    return exits.facts_for(session, customer, (run.context or {}).get("event", {}), now,
                           condition=condition)


def _finish(run: FlowRun, now: datetime) -> None:
    run.status = RUN_COMPLETED
    run.step_id = None
    run.due_at = None
    run.finished_at = now


def advance(session: Session, run: FlowRun, now: datetime) -> str:
    """Run `run`'s due steps (its row locked by the caller); returns its status afterwards.
    Writes through `session`; commits nothing. A run of a flow that is not live is held."""
    if run.status != RUN_ACTIVE:
        return run.status
    flow = session.get(Flow, run.flow_id)
    if flow is None or flow.status != LIVE:
        return run.status
    definition, plan = _version(session, flow, run.version)
    # The run's row is written once, at the end (its changes are read by nothing before).
    with session.no_autoflush:
        for _ in range(MAX_STEPS_PER_ADVANCE):
            if run.step_id is None:
                _finish(run, now)
                break
            if run.due_at is not None and run.due_at > now:
                break
            if run.step_id not in plan:
                exits.stop(session, run, exits.STEP_GONE, now)
                break
            step = plan.step(run.step_id)
            if step["type"] in EFFECT_TYPES:
                # Asked before every step that reaches the shopper; a wait or a split changes
                # nothing they see, and the step after it asks again.
                reason = exits.exit_reason(session, run, now, flow=flow, definition=definition)
                if reason is not None:
                    exits.stop(session, run, reason, now)
                    log.info("flows.run_exited", extra={"shop_id": run.shop_id,
                                                        "run_id": run.id, "reason": reason})
                    break
            if not _run_step(session, run, flow, definition, plan, step, now):
                break
    session.flush()
    return run.status


def _run_step(session: Session, run: FlowRun, flow: Flow, definition: dict[str, Any],
              plan: Plan, step: dict[str, Any], now: datetime) -> bool:
    """One step; True to go on with the next (now due or not), False to stop here."""
    kind = step["type"]
    reached = run.due_at or now
    if kind == "wait":
        until = wait_until(session, run, step, reached)
        record_step(session, run, step, STEP_DONE, now, detail={"until": until.isoformat()})
        run.step_id, run.due_at = plan.after(step["id"]), until
        return True
    if kind == "split":
        facts = _facts(session, run, now, step["condition"])
        branch = "yes" if facts is not None and conditions.evaluate(
            step["condition"], facts) else "no"
        record_step(session, run, step, STEP_DONE, now, detail={"branch": branch})
        run.step_id = plan.branch(step["id"], branch)
        return True
    if run.holdout and kind in HELD_OUT_TYPES:
        record_step(session, run, step, STEP_HOLDOUT, now, reason="holdout: receives nothing")
    elif kind == "email":
        # The message is unique per (run, step): run again, the step finds the first one.
        outcome = queue_email(session, run, flow, step, definition, now)
        if outcome.status == DEFERRED:
            run.due_at = outcome.defer_until or now + RETRY_FAILED_AFTER
            return False
        status = STEP_DONE if outcome.status == QUEUED else STEP_SKIPPED
        record_step(session, run, step, status, now, reason=outcome.reason,
                    detail={"message_pk": outcome.message_pk})
        if getattr(outcome, "exited", False):
            # The policy's own last look found an exit condition (e.g. the order).
            exits.stop(session, run, outcome.reason or "exited", now)
            return False
    else:
        # Each action is keyed by (run, step) itself: run again, it makes nothing new.
        try:
            with session.begin_nested():
                detail = actions.ACTIONS[kind](session, run, flow, step, now)
        except actions.ActionSkipped as skipped:
            record_step(session, run, step, STEP_SKIPPED, now, reason=skipped.reason)
        else:
            record_step(session, run, step, STEP_DONE, now, detail=detail)
    run.step_id = plan.after(step["id"])
    run.due_at = reached
    return True


def advance_locked(session: Session, run_id: int, now: datetime) -> str | None:
    """Lock the run (skipping it if another worker holds it) and advance it; returns its
    status, or None when it is locked elsewhere or gone. Commits nothing."""
    query = select(FlowRun).where(FlowRun.id == run_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    run = session.execute(query.execution_options(populate_existing=True)).scalar_one_or_none()
    if run is None:
        return None
    return advance(session, run, now)


# --- the sweep ------------------------------------------------------------------------------

SWEEP_BATCH = 100


def _due_run_ids(session: Session, now: datetime, limit: int, seen: set[int]) -> list[int]:
    """Ids of due runs of live flows of installed stores, locked for this transaction; on
    PostgreSQL rows another worker holds are skipped, so two sweeps share the work instead
    of repeating it. A store that uninstalled Sticky mails no one: its runs stay where they
    are."""
    query = (select(FlowRun.id).join(Flow, Flow.id == FlowRun.flow_id)
             .join(Shop, Shop.id == FlowRun.shop_id)
             .where(FlowRun.status == RUN_ACTIVE, FlowRun.due_at <= now, Flow.status == LIVE,
                    Shop.status == ACTIVE_SHOP)
             .order_by(FlowRun.due_at, FlowRun.id).limit(limit))
    if seen:
        query = query.where(FlowRun.id.not_in(sorted(seen)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=FlowRun, skip_locked=True)
    return list(session.execute(query).scalars())


def sweep(session: Session, now: datetime, *, batch_size: int = SWEEP_BATCH,
          budget_seconds: float = 50.0) -> dict[str, Any]:
    """Advance every due run of a live flow, a batch per transaction, until none is due or
    the budget is spent. A run whose step raises is rolled back alone (a savepoint), logged,
    and tried again after RETRY_FAILED_AFTER. Commits."""
    deadline = monotonic() + budget_seconds
    seen: set[int] = set()
    advanced, failed = 0, []
    while True:
        ids = _due_run_ids(session, now, batch_size, seen)
        if not ids:
            session.commit()
            break
        seen.update(ids)
        runs = session.execute(select(FlowRun).where(FlowRun.id.in_(ids))
                               .order_by(FlowRun.due_at, FlowRun.id)
                               .execution_options(populate_existing=True)).scalars().all()
        for run in runs:
            try:
                with session.begin_nested():
                    advance(session, run, now)
                advanced += 1
            except Exception:  # noqa: BLE001 - one run's failure holds up no other run
                log.exception("flows.step_failed", extra={"shop_id": run.shop_id,
                                                          "run_id": run.id})
                failed.append(run.id)
                session.expire(run)
                session.execute(update(FlowRun).where(FlowRun.id == run.id)
                                .values(due_at=now + RETRY_FAILED_AFTER))
        session.commit()
        if len(ids) < batch_size or monotonic() > deadline:
            break
    return {"advanced": advanced, "failed": failed}


def enter_candidates(session: Session, now: datetime, *,
                     flow_ids: list[int] | None = None) -> int:
    """Enter the shoppers of date and lapsed flows (`app.flows.candidates`) into every live
    flow of those triggers; a candidate's trigger key makes a second call enter no one
    twice. Returns how many entered. Commits per flow."""
    from app.flows import candidates, entry

    query = (select(Flow).join(Shop, Shop.id == Flow.shop_id)
             .where(Flow.status == LIVE, Shop.status == ACTIVE_SHOP))
    if flow_ids is not None:
        query = query.where(Flow.id.in_(flow_ids))
    entered = 0
    for flow in session.execute(query.order_by(Flow.id)).scalars().all():
        trigger = (flow.definition or {}).get("trigger") or {}
        finder = {"lapsed": candidates.lapsed, "date": candidates.dates}.get(trigger.get("type"))
        if finder is None:
            continue
        # `flow_id`: the finder leaves out shoppers who already have a run under their key.
        for candidate in finder(session, flow.shop_id, trigger, now, flow_id=flow.id):
            context = {"event": dict(candidate.context), "since": now.isoformat()}
            if entry.enter(session, flow, candidate.customer_id, candidate.trigger_key,
                           context, now) is not None:
                entered += 1
        session.commit()
    return entered
