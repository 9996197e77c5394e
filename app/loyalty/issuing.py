"""Making a held redemption's code on the platform, and settling the redemption by the answer.

A redemption is committed as "held" (its points reserved, its code chosen) before the
platform is called, so whatever happens next is one of:

- the platform made the code: in one transaction the redemption becomes "issued" and, for a
  reward, the "redeem" entry takes the points (key `redemption:<id>`), the fact goes on the
  timeline and the member is marked for the write-back;
- the platform refused (4xx, `userErrors`, no credentials): "failed" with its reason, and
  the hold is released (no entry was written: the points are spendable again);
- no usable answer (timeout, 5xx): it stays "held" and a job tries again later under the
  same code. Every later attempt first looks the code up on the platform and creates it only
  if it is absent, so a code is never made twice. After MAX_ATTEMPTS it fails and the hold
  is released. A held redemption nobody is working on (a lost job, a crash between the hold
  and the call) is found by the periodic sweep after HELD_SWEEP_AFTER and tried the same way.

One attempt at a time per redemption (a Redis lock); settling is compare-and-set on the
"held" status, so a late answer can never settle a redemption twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.exceptions import LockError, RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import events
from app.db import utcnow
from app.loyalty import ledger, notices, platform, writeback
from app.loyalty.models import FAILED, HELD, ISSUED, REDEEM, Redemption
from app.profiles.models import Customer
from app.queue import get_queue, get_redis
from app.shops.models import Shop
from app.shops.outbound import skip_outbound
from connectors.discounts import (
    DiscountOutcomeUnknown,
    DiscountRefused,
    DiscountSpec,
    PlatformDiscount,
)

log = logging.getLogger(__name__)

_R = Redemption.__table__

MAX_ATTEMPTS = 5
RETRY_DELAYS = (30, 120, 600, 1800)  # seconds before attempts 2, 3, 4, 5
HELD_SWEEP_AFTER = timedelta(minutes=10)
RETRY_JOB = "jobs.loyalty_redeem.retry_redemption"
LOCK_SECONDS = 120
DEMO_DISCOUNT_ID = "demo"  # the demo store's codes exist in Sticky alone


def ends_at(row: Any) -> datetime | None:
    """When the code stops working: fixed from the hold, so every attempt asks the same."""
    days = (row.reward or {}).get("expires_after_days")
    return row.created_at + timedelta(days=int(days)) if days else None


def spec_for(session: Session, row: Any) -> DiscountSpec:
    reward = row.reward or {}
    platform_id, email = None, row.email
    if row.customer_id is not None:
        customer = session.execute(select(Customer.platform_customer_id, Customer.email).where(
            Customer.id == row.customer_id)).first()
        if customer is not None:
            platform_id, email = customer.platform_customer_id, customer.email or email
    minimum = reward.get("minimum_order")
    return DiscountSpec(
        code=row.code, title=str(reward.get("title") or reward.get("name") or row.code),
        kind=str(reward.get("kind")), value=Decimal(str(reward.get("value") or "0")),
        minimum_order=Decimal(str(minimum)) if minimum not in (None, "") else None,
        starts_at=row.created_at, ends_at=ends_at(row),
        customer_platform_id=platform_id, email=email)


def attempt(session: Session, shop: Shop, redemption_id: int, *, look_up_first: bool) -> str:
    """One attempt to make a held redemption's code; returns its status afterwards. Commits.
    Call with no transaction holding locks: the platform is called outside any."""
    try:
        lock = get_redis().lock(f"sticky:redemption:{redemption_id}", timeout=LOCK_SECONDS)
        if not lock.acquire(blocking=False):
            return HELD  # another worker is on it
    except RedisError:
        lock = None  # the compare-and-set settling below still keeps it to one outcome
    try:
        return _attempt(session, shop, redemption_id, look_up_first=look_up_first)
    finally:
        if lock is not None:
            try:
                lock.release()
            except (LockError, RedisError):
                log.info("loyalty.redemption.lock_lost", extra={"redemption_id": redemption_id})


def _attempt(session: Session, shop: Shop, redemption_id: int, *, look_up_first: bool) -> str:
    claimed = session.execute(
        update(_R).where(_R.c.id == redemption_id, _R.c.shop_id == shop.id,
                         _R.c.status == HELD)
        .values(attempts=_R.c.attempts + 1).returning(_R.c.attempts)).first()
    if claimed is None:
        status = session.execute(select(_R.c.status).where(_R.c.id == redemption_id)).scalar()
        session.commit()
        return status or FAILED
    row = session.execute(select(_R).where(_R.c.id == redemption_id)).one()
    spec = spec_for(session, row)
    session.commit()  # no transaction stays open while the platform is called
    if skip_outbound(shop, "making a discount code"):
        return confirm(session, shop, redemption_id, PlatformDiscount(DEMO_DISCOUNT_ID, spec.code))
    try:
        found = platform.find_discount(session, shop, spec.code) if look_up_first else None
        made = found or platform.create_discount(session, shop, spec)
    except DiscountRefused as exc:
        return fail(session, shop, redemption_id, exc.reason)
    except DiscountOutcomeUnknown as exc:
        return _keep_held(session, shop, redemption_id, claimed.attempts, str(exc))
    return confirm(session, shop, redemption_id, made)


def _lock_owner(session: Session, shop_id: int, redemption_id: int) -> Any:
    """Take the member's lock (as the hold did) before settling, so a concurrent hold never
    reads the balance and the held points on either side of the change. Returns the row."""
    customer_id = session.execute(select(_R.c.customer_id).where(
        _R.c.id == redemption_id)).scalar()
    if customer_id is not None:
        try:
            ledger.lock_member(session, shop_id, customer_id)
        except LookupError:
            pass  # the profile went (redacted): nothing of it to lock
    return customer_id


def confirm(session: Session, shop: Shop, redemption_id: int, made: PlatformDiscount) -> str:
    """The platform has the code: issue it and take the points, in one transaction."""
    _lock_owner(session, shop.id, redemption_id)
    now = utcnow()
    row = session.execute(
        update(_R).where(_R.c.id == redemption_id, _R.c.status == HELD)
        .values(status=ISSUED, platform_discount_id=made.platform_id, issued_at=now,
                error=None)
        .returning(_R)).first()
    if row is None:  # settled meanwhile by another attempt
        status = session.execute(select(_R.c.status).where(_R.c.id == redemption_id)).scalar()
        session.commit()
        return status or FAILED
    expires = ends_at(row)
    session.execute(update(_R).where(_R.c.id == redemption_id).values(expires_at=expires))
    reward = row.reward or {}
    if row.customer_id is not None and row.points:
        ledger.append(session, shop.id, ledger.NewEntry(
            customer_id=row.customer_id, kind=REDEEM, points=-row.points,
            reason=f"Redeemed for {reward.get('name') or 'a reward'} (code {row.code})",
            source="reward", key=f"redemption:{row.id}", created_at=now))
        notices.record(session, shop.id, row.customer_id, events.REWARD_REDEEMED,
                       f"redemption:{row.id}", now, {
                           "redemption_id": row.id, "code": row.code, "points": row.points,
                           "reward": reward.get("name"), "kind": reward.get("kind"),
                           "value": reward.get("value"),
                           "expires_at": expires.isoformat() if expires else None})
        writeback.mark_due(session, shop.id, [row.customer_id])
    session.commit()
    log.info("loyalty.redemption.issued", extra={"shop_id": shop.id, "redemption_id": row.id})
    return ISSUED


def fail(session: Session, shop: Shop, redemption_id: int, reason: str) -> str:
    """No code: release the hold (no entry was written), keeping the platform's reason."""
    _lock_owner(session, shop.id, redemption_id)
    settled = session.execute(
        update(_R).where(_R.c.id == redemption_id, _R.c.status == HELD)
        .values(status=FAILED, error=reason[:2000]).returning(_R.c.id)).first()
    status = FAILED if settled else session.execute(
        select(_R.c.status).where(_R.c.id == redemption_id)).scalar()
    session.commit()
    if settled:
        log.info("loyalty.redemption.failed", extra={"shop_id": shop.id,
                                                     "redemption_id": redemption_id,
                                                     "reason": reason[:300]})
    return status or FAILED


def _keep_held(session: Session, shop: Shop, redemption_id: int, attempts: int,
               reason: str) -> str:
    if attempts >= MAX_ATTEMPTS:
        return fail(session, shop, redemption_id,
                    f"The store did not confirm the code after {attempts} attempts "
                    f"(last: {reason})")
    session.execute(update(_R).where(_R.c.id == redemption_id, _R.c.status == HELD)
                    .values(error=reason[:2000]))
    session.commit()
    request_retry(redemption_id, RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1])
    return HELD


def request_retry(redemption_id: int, delay_seconds: int) -> bool:
    """Ask a worker to try again later; if Redis is down, the sweep finds the hold."""
    try:
        get_queue("default").enqueue_in(timedelta(seconds=delay_seconds), RETRY_JOB,
                                        redemption_id, job_timeout=120, result_ttl=600,
                                        failure_ttl=7 * 24 * 3600)
        return True
    except RedisError:
        log.warning("loyalty.redemption.retry_enqueue_failed",
                    extra={"redemption_id": redemption_id}, exc_info=True)
        return False


def retry(session: Session, redemption_id: int) -> str | None:
    """A later attempt (job or sweep): look the code up first, create it only if absent.
    None when there is no such redemption."""
    row = session.execute(select(_R.c.shop_id, _R.c.status).where(
        _R.c.id == redemption_id)).first()
    if row is None:
        session.commit()
        return None
    if row.status != HELD:
        session.commit()
        return row.status
    shop = session.get(Shop, row.shop_id)
    if shop is None:
        return None
    return attempt(session, shop, redemption_id, look_up_first=True)


def stale_holds(session: Session, *, now: datetime | None = None,
                older_than: timedelta = HELD_SWEEP_AFTER, limit: int = 500) -> list[int]:
    """Held redemptions untouched for longer than `older_than`: the sweep retries them."""
    cutoff = (now or utcnow()) - older_than
    ids = list(session.execute(
        select(_R.c.id).where(_R.c.status == HELD, _R.c.created_at < cutoff)
        .order_by(_R.c.id).limit(limit)).scalars())
    session.commit()
    return ids
