"""Referrals: a member's link and code, the friend's welcome reward, the merchant's review.

- Every member has a referral code (`loyalty_members.referral_code`, drawn by
  `ledger.ensure_member`) and a link, `referral_url`: a page Sticky serves itself,
  `APP_URL/r/<store id>/<code>`, the same for Shopify and WooCommerce stores.
- A friend who opens it gives their email (`claim`) and gets a single-use discount code made
  out to that email (the program's `referral_friend_*` settings), through
  `app.loyalty.redeem.issue_discount` under the key `referral:<id>:friend`. One referral per
  friend per store: the key is the friend's canonical email (`fraud.canonical_email`), so a
  friend who claims again, or with `+tag` or Gmail dots, gets the same code back.
- The fraud checks of `app.loyalty.fraud` run at the claim and again when the friend's first
  order is paid (`app.loyalty.referral_orders`, which rewards the advocate). A blocked
  referral keeps its reason for the merchant; the friend only reads a polite message.
- `approve`: the merchant overrides the checks; the friend's code is issued if it was not,
  and the advocate is credited if the friend's order is already paid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.loyalty import fraud, redeem
from app.loyalty.models import FAILED, HELD, LoyaltyMember, Redemption, Referral
from app.loyalty.program import Program, read_program
from app.loyalty.referral_orders import (
    APPROVED,
    BLOCKED,
    CANCELLED,
    INVITED,
    ORDERED,
    REWARDED,
    credit_for_order,
)
from app.money import money_text
from app.profiles.models import Customer
from app.shops.models import Shop

log = logging.getLogger(__name__)

STATUSES = (INVITED, ORDERED, REWARDED, BLOCKED, APPROVED, CANCELLED)
PAGE_SIZE = 50


def referral_url(shop: Shop, referral_code: str) -> str:
    """The link a member shares: Sticky's own landing page for the store and the code."""
    base = str(current_app.config["APP_URL"]).rstrip("/")
    return f"{base}/r/{shop.id}/{referral_code}"


@dataclass(frozen=True)
class Invitation:
    """What the landing page shows: whose link it is and what the friend gets."""

    shop: Shop
    program: Program
    advocate_id: int
    advocate_first_name: str | None
    offer: str


@dataclass(frozen=True)
class Claim:
    """The outcome of a friend's claim. status: "issued" (code shown), "blocked" (the polite
    message), "retry" (the platform did not make the code yet; claiming again is safe)."""

    status: str
    code: str | None = None
    expires_at: str | None = None


def describe_offer(program: Program, currency: str) -> str:
    """The friend's welcome reward in words: "$10.00 off your first order"."""
    if program.referral_friend_kind == "percentage":
        offer = f"{program.referral_friend_value.normalize():f}% off your first order"
    elif program.referral_friend_kind == "free_shipping":
        offer = "free shipping on your first order"
    else:
        offer = f"{money_text(program.referral_friend_value, currency)} off your first order"
    if program.referral_friend_minimum_order:
        offer += f" of {money_text(program.referral_friend_minimum_order, currency)} or more"
    return offer


def invitation(session: Session, shop_id: int, code: str) -> Invitation | None:
    """The invitation behind a link, or None (no such store or code, or the store's
    referral program is not running)."""
    shop = session.get(Shop, shop_id)
    if shop is None or shop.status != "active" or not code or len(code) > 16:
        return None
    program = read_program(session, shop_id)
    if not (program.enabled and program.referrals_enabled):
        return None
    row = session.execute(
        select(LoyaltyMember.customer_id, Customer.first_name)
        .join(Customer, Customer.id == LoyaltyMember.customer_id)
        .where(LoyaltyMember.shop_id == shop_id,
               LoyaltyMember.referral_code == code.strip().upper(),
               Customer.deleted_at.is_(None))).first()
    if row is None:
        return None
    first = (row.first_name or "").strip().split(" ")[0] or None
    return Invitation(shop, program, row.customer_id, first,
                      describe_offer(program, shop.currency))


def _friend_profile(session: Session, shop_id: int, email: str) -> int | None:
    return session.execute(select(Customer.id).where(
        Customer.shop_id == shop_id, Customer.email_normalized == email.strip().lower(),
        Customer.deleted_at.is_(None)).order_by(Customer.platform_customer_id.is_(None),
                                                Customer.id).limit(1)).scalar()


def claim(session: Session, invite: Invitation, *, email: str, first_name: str | None,
          last_name: str | None, ip: str | None) -> Claim:
    """A friend's claim on `invite` with their (already validated) email. Commits: the
    referral is stored before the platform is asked for a code, and a repeated claim is the
    same referral under the same discount key."""
    shop, program = invite.shop, invite.program
    canonical = fraud.canonical_email(email)
    if canonical is None:
        raise ValueError("not an email address")
    now = utcnow()
    existing = _by_friend(session, shop.id, canonical)
    if existing is None:
        advocate = fraud.advocate(session, shop.id, invite.advocate_id)
        assert advocate is not None  # `invitation` found it
        reason = fraud.claim_reason(session, shop.id, advocate, email=email,
                                    first_name=first_name, last_name=last_name, ip=ip,
                                    now=now, ip_limit=program.referral_weekly_ip_limit)
        name = " ".join(p for p in (first_name, last_name) if p) or None
        session.execute(insert_for(session, Referral).values(
            shop_id=shop.id, advocate_id=advocate.id, friend_email=email.strip()[:320],
            friend_email_normalized=canonical, friend_name=name and name[:255], ip=ip,
            status=BLOCKED if reason else INVITED, block_reason=reason,
            friend_customer_id=_friend_profile(session, shop.id, email),
            created_at=now, updated_at=now,
        ).on_conflict_do_nothing(index_elements=["shop_id", "friend_email_normalized"]))
        session.commit()
        existing = _by_friend(session, shop.id, canonical)
        assert existing is not None
        if reason and existing.block_reason == reason:
            log.info("loyalty.referral.blocked", extra={"shop_id": shop.id,
                                                        "referral_id": existing.id})
    if existing.status == BLOCKED:
        return Claim("blocked")
    return _friend_code(session, shop, existing, program)


def _by_friend(session: Session, shop_id: int, canonical: str) -> Referral | None:
    return session.execute(select(Referral).where(
        Referral.shop_id == shop_id, Referral.friend_email_normalized == canonical)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def _friend_code(session: Session, shop: Shop, referral: Referral, program: Program) -> Claim:
    """The friend's code: the one already made, else made now (idempotent by its key)."""
    if referral.friend_redemption_id is not None:
        made = session.get(Redemption, referral.friend_redemption_id)
        if made is not None and made.status != FAILED and made.code:
            return Claim("issued", made.code,
                         made.expires_at.isoformat() if made.expires_at else None)
    referral_id = referral.id
    try:
        result = redeem.issue_discount(
            session, shop, key=f"referral:{referral_id}:friend", email=referral.friend_email,
            customer_id=referral.friend_customer_id, kind=program.referral_friend_kind,
            value=program.referral_friend_value,
            minimum_order=program.referral_friend_minimum_order, expires_after_days=None,
            title=f"Referral welcome reward #{referral_id}")
    except Exception as exc:  # noqa: BLE001 - the platform's refusal or outage; claim again
        session.rollback()
        log.warning("loyalty.referral.code_failed", extra={
            "shop_id": shop.id, "referral_id": referral_id, "error": type(exc).__name__})
        return Claim("retry")
    if not result.get("code") or result.get("status") in (FAILED, HELD):
        # never show a code the platform has not confirmed: the friend tries again
        session.rollback()
        return Claim("retry")
    session.execute(Referral.__table__.update().where(Referral.id == referral_id)
                    .values(friend_redemption_id=result["id"], updated_at=utcnow()))
    session.commit()
    expires = result.get("expires_at")
    return Claim("issued", result["code"],
                 expires.isoformat() if isinstance(expires, datetime) else expires)


# --- the merchant's side -------------------------------------------------------------------


class ReferralNotFound(LookupError):
    pass


class ApprovalRefused(ValueError):
    """`reason` says why, to the merchant."""


def referral_as_dict(row: Any) -> dict[str, Any]:
    """A referral as `GET /api/loyalty/referrals` shows it."""
    return {
        "id": row.id, "status": row.status, "reason": row.block_reason,
        "advocate": {"id": row.advocate_id, "email": row.advocate_email,
                     "first_name": row.advocate_first_name,
                     "last_name": row.advocate_last_name},
        "friend_email": row.friend_email, "friend_name": row.friend_name,
        "friend_customer_id": row.friend_customer_id,
        "platform_order_id": row.platform_order_id,
        "friend_code_issued": row.friend_redemption_id is not None,
        "reviewed_by": row.reviewed_by,
        "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
    }


def list_referrals(session: Session, shop_id: int, *, status: str | None = None,
                   page: int = 1, page_size: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
    """Newest first, optionally of one status; returns (page of referrals, total)."""
    where = [Referral.shop_id == shop_id]
    if status:
        where.append(Referral.status == status)
    total = session.execute(select(func.count()).select_from(Referral).where(*where)).scalar()
    rows = session.execute(
        select(Referral.__table__, Customer.email.label("advocate_email"),
               Customer.first_name.label("advocate_first_name"),
               Customer.last_name.label("advocate_last_name"))
        .join(Customer, Customer.id == Referral.advocate_id).where(*where)
        .order_by(Referral.created_at.desc(), Referral.id.desc())
        .offset((page - 1) * page_size).limit(page_size)).all()
    return [referral_as_dict(r) for r in rows], total or 0


def get_referral(session: Session, shop_id: int, referral_id: int) -> dict[str, Any] | None:
    rows = session.execute(
        select(Referral.__table__, Customer.email.label("advocate_email"),
               Customer.first_name.label("advocate_first_name"),
               Customer.last_name.label("advocate_last_name"))
        .join(Customer, Customer.id == Referral.advocate_id)
        .where(Referral.shop_id == shop_id, Referral.id == referral_id)).all()
    return referral_as_dict(rows[0]) if rows else None


def approve(session: Session, shop: Shop, referral_id: int, *, reviewed_by: str) -> Claim:
    """The merchant approves a blocked referral: the fraud checks no longer apply to it.
    The friend's code is made if it was not; if the friend's order is already paid, the
    advocate is credited now (pending for the return window, from the payment). Commits."""
    query = select(Referral).where(Referral.shop_id == shop.id, Referral.id == referral_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    referral = session.execute(query).scalar_one_or_none()
    if referral is None:
        raise ReferralNotFound(referral_id)
    if referral.status != BLOCKED:
        raise ApprovalRefused(f"Only a blocked referral can be approved; this one is "
                              f"{referral.status}.")
    referral.status, referral.reviewed_by = APPROVED, reviewed_by[:320]
    referral.updated_at = utcnow()
    program = read_program(session, shop.id)
    credit_for_order(session, shop.id, referral, program)
    session.commit()
    log.info("loyalty.referral.approved", extra={"shop_id": shop.id, "referral_id": referral_id})
    if referral.status == CANCELLED:
        return Claim("cancelled")
    return _friend_code(session, shop, referral, program)


__all__ = ["APPROVED", "BLOCKED", "CANCELLED", "INVITED", "ORDERED", "REWARDED", "STATUSES",
           "Claim", "Invitation", "approve", "claim", "invitation",
           "list_referrals", "referral_url"]
