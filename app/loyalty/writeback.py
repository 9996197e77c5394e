"""Telling the platform a member's balance and tier, so themes can show them.

`mark_due` is called in the transaction that changed a balance or tier; it only marks the
member (one row per member, so a burst of orders is one write) and, once that transaction
commits, asks for the shop's write-back job (`jobs.loyalty_writeback.write_back_shop`, at
most one waiting per shop). A periodic sweep finds shops with members due, should that
request be lost. The write never blocks or rolls back the ledger.

`write_due` (the job's body) reads what the ledger says *at write time* for every member
due now, writes it (Shopify: metafields and the tier tag; WooCommerce: customer meta), and
then clears `due_at` only where nothing changed meanwhile (compare-and-clear: the balance and
tier written still equal the profile's). A failure is kept in `last_error` and tried again
after a backoff; profiles without a platform customer id (guests) have nothing to write to
and are cleared; the local demo store never calls out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import has_app_context
from redis.exceptions import RedisError
from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from app.db import after_commit, insert_for, utcnow
from app.loyalty import platform
from app.loyalty.models import LoyaltyMember, Writeback
from app.loyalty.program import read_program
from app.profiles.models import Customer
from app.queue import get_queue, get_redis
from app.shops.models import Shop
from app.shops.outbound import skip_outbound
from connectors.shopify.metafields import MemberFigures

log = logging.getLogger(__name__)

_W = Writeback.__table__
_C = Customer.__table__
_M = LoyaltyMember.__table__

WRITE_JOB = "jobs.loyalty_writeback.write_back_shop"
BATCH = 200  # members read per round
MAX_ROUNDS = 20  # per job; more waits for the next job
BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS = 60, 6 * 3600


def requested_flag(shop_id: int) -> str:
    return f"sticky:loyalty-writeback-requested:{shop_id}"


def mark_due(session: Session, shop_id: int, customer_ids: Iterable[int]) -> None:
    """Mark members whose balance or tier the platform must be told (idempotent). The shop's
    write-back job is requested after the transaction commits."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    now = utcnow()
    insert = insert_for(session, _W)
    session.execute(
        insert.values([{"customer_id": i, "shop_id": shop_id, "due_at": now, "attempts": 0}
                       for i in ids])
        .on_conflict_do_update(index_elements=["customer_id"],
                               set_={"due_at": func.coalesce(_W.c.due_at, now)}))
    _request_after_commit(session, shop_id)


def _request_after_commit(session: Session, shop_id: int) -> None:
    after_commit(session, "loyalty.writeback", [shop_id], _announce)


def _announce(shop_ids: list[int]) -> None:
    if has_app_context():
        for shop_id in shop_ids:
            request_write(shop_id)


def request_write(shop_id: int, *, force: bool = False) -> bool:
    """Enqueue the shop's write-back unless one is already waiting. True if enqueued."""
    try:
        if not force and not get_redis().set(requested_flag(shop_id), 1, nx=True, ex=600):
            return False
        get_queue("default").enqueue(WRITE_JOB, shop_id, job_timeout=600, result_ttl=300,
                                     failure_ttl=7 * 24 * 3600)
        return True
    except RedisError:
        log.warning("loyalty.writeback.enqueue_failed", extra={"shop_id": shop_id},
                    exc_info=True)
        return False


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempts - 1)))


@dataclass
class WriteResult:
    shop_id: int
    written: int = 0
    failed: int = 0
    skipped_guests: int = 0
    still_due: int = 0  # written, but changed meanwhile: written again next time
    skipped: str | None = None
    errors: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"shop_id": self.shop_id, "written": self.written, "failed": self.failed,
                "skipped_guests": self.skipped_guests, "still_due": self.still_due,
                "skipped": self.skipped}


def _due_rows(session: Session, shop_id: int, now: datetime, after: int) -> list:
    return list(session.execute(
        select(_W.c.customer_id, _W.c.written_tier, _W.c.written_at, _C.c.platform_customer_id,
               _C.c.deleted_at, _C.c.points_balance, _M.c.tier)
        .join(_C, _C.c.id == _W.c.customer_id)
        .outerjoin(_M, _M.c.customer_id == _W.c.customer_id)
        .where(_W.c.shop_id == shop_id, _W.c.due_at.is_not(None), _W.c.due_at <= now,
               _W.c.customer_id > after)
        .order_by(_W.c.customer_id).limit(BATCH)))


def _clear(session: Session, customer_ids: list[int]) -> None:
    if customer_ids:
        session.execute(update(_W).where(_W.c.customer_id.in_(customer_ids))
                        .values(due_at=None, attempts=0, last_error=None))


def write_due(session: Session, shop_id: int, *, now: datetime | None = None) -> WriteResult:
    """Write every member of the shop due by `now`. Safe to run twice, and concurrently."""
    now = now or utcnow()
    result = WriteResult(shop_id)
    shop = session.get(Shop, shop_id)
    if shop is None or shop.status != "active":
        result.skipped = "not an active store"
        session.commit()
        return result
    demo = skip_outbound(shop, "the loyalty write-back")
    tier_names = tuple(t.name for t in read_program(session, shop_id).tiers)
    after = 0
    for _round in range(MAX_ROUNDS):
        rows = _due_rows(session, shop_id, now, after)
        if not rows:
            break
        after = rows[-1].customer_id
        writable = [r for r in rows if r.platform_customer_id and r.deleted_at is None
                    and not demo]
        nothing_to_write = [r.customer_id for r in rows if r not in writable]
        _clear(session, nothing_to_write)
        result.skipped_guests += len(nothing_to_write)
        session.commit()  # no transaction stays open while the platform is called
        if writable:
            _write(session, shop, writable, tier_names, result)
        if len(rows) < BATCH:
            break
    if demo:
        result.skipped = "the local demo store"
    log.info("loyalty.writeback.done", extra=result.as_dict())
    return result


def _write(session: Session, shop: Shop, rows: list, tier_names: tuple[str, ...],
           result: WriteResult) -> None:
    members = [MemberFigures(
        platform_customer_id=str(r.platform_customer_id), points_balance=r.points_balance,
        tier=r.tier,
        stale_tiers=tuple(sorted({*tier_names, *([r.written_tier] if r.written_tier else [])}
                                 - {r.tier})),
        update_tags=r.written_at is None or r.written_tier != r.tier)
        for r in rows]
    outcome = platform.write_members(session, shop, members)
    session.commit()  # write_members may have refreshed the token
    written_at = utcnow()
    for row, member in zip(rows, members, strict=True):
        error = outcome.get(member.platform_customer_id)
        if error is None:
            _record_written(session, row.customer_id, member, written_at, result)
        else:
            _record_failure(session, row.customer_id, error, written_at)
            result.failed += 1
            result.errors[row.customer_id] = error
    session.commit()


def _record_written(session: Session, customer_id: int, member: MemberFigures,
                    at: datetime, result: WriteResult) -> None:
    unchanged = and_(
        select(_C.c.points_balance).where(_C.c.id == customer_id).scalar_subquery()
        == member.points_balance,
        select(_M.c.tier).where(_M.c.customer_id == customer_id).scalar_subquery()
        .is_not_distinct_from(member.tier))
    cleared = session.execute(
        update(_W).where(_W.c.customer_id == customer_id, unchanged)
        .values(due_at=None, attempts=0, last_error=None, written_balance=member.points_balance,
                written_tier=member.tier, written_at=at)).rowcount
    if not cleared:  # the ledger moved while we wrote: keep it due, write again
        session.execute(update(_W).where(_W.c.customer_id == customer_id).values(
            attempts=0, last_error=None, written_balance=member.points_balance,
            written_tier=member.tier, written_at=at))
        result.still_due += 1
    result.written += 1


def _record_failure(session: Session, customer_id: int, error: str, at: datetime) -> None:
    attempts = (session.execute(select(_W.c.attempts).where(_W.c.customer_id == customer_id))
                .scalar() or 0) + 1
    session.execute(update(_W).where(_W.c.customer_id == customer_id).values(
        attempts=attempts, last_error=error[:2000], due_at=at + backoff(attempts)))


def due_shops(session: Session, *, now: datetime | None = None) -> list[int]:
    """Shops with members due now (the sweep requests a write for each)."""
    shop_ids = list(session.execute(
        select(_W.c.shop_id).where(_W.c.due_at.is_not(None), _W.c.due_at <= (now or utcnow()))
        .group_by(_W.c.shop_id).order_by(_W.c.shop_id)).scalars())
    session.commit()
    return shop_ids
