"""Shared by the referral tests: a store whose program runs referrals, an advocate, the
friend's discount made without a platform, and the program's periodic release."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.db import utcnow
from app.loyalty import ledger, referrals
from app.loyalty.models import (
    ISSUED,
    LoyaltyMember,
    Redemption,
    Referral,
)
from app.loyalty.program import save_program
from app.profiles.models import Customer
from tests.factories import BASE_TIME

ADVOCATE_EMAIL = "ada.lovelace@gmail.com"


def run_referrals(session, shop, **changes) -> None:
    save_program(session, shop.id, {
        "enabled": True, "referrals_enabled": True, "referral_advocate_points": 500,
        "referral_friend_kind": "fixed_amount", "referral_friend_value": "10", **changes})
    session.commit()


def make_advocate(session, shop, *, email: str = ADVOCATE_EMAIL, first: str = "Ada",
                  last: str = "Lovelace") -> tuple[Customer, str]:
    """A registered customer of long standing, and their referral code."""
    advocate = Customer(shop_id=shop.id, platform_customer_id="6201000000000001", email=email,
                        email_normalized=email.lower(), first_name=first, last_name=last,
                        platform_created_at=datetime(2025, 1, 5, tzinfo=BASE_TIME.tzinfo))
    session.add(advocate)
    session.flush()
    ledger.ensure_member(session, shop.id, advocate.id)
    session.commit()
    code = session.execute(select(LoyaltyMember.referral_code).where(
        LoyaltyMember.customer_id == advocate.id)).scalar_one()
    return advocate, code


class FakeDiscounts:
    """Stands in for `app.loyalty.redeem.issue_discount` (the platform call is the rewards
    part's, tested there): one code per key, as a real Redemption row, like the real one."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_next = 0

    def __call__(self, session, shop, *, key, email, customer_id, kind, value, minimum_order,
                 expires_after_days, title) -> dict[str, Any]:
        self.calls.append({"key": key, "email": email, "kind": kind, "value": value,
                           "minimum_order": minimum_order, "title": title})
        if self.fail_next:
            self.fail_next -= 1
            raise TimeoutError("the platform did not answer")
        row = session.execute(select(Redemption).where(
            Redemption.shop_id == shop.id, Redemption.idempotency_key == key)).scalar()
        if row is None:
            row = Redemption(shop_id=shop.id, customer_id=customer_id, email=email,
                             reward={"kind": kind, "value": str(value)}, points=0,
                             status=ISSUED, code=f"FRIEND-{len(self.calls):04d}",
                             idempotency_key=key, purpose="referral", issued_at=utcnow())
            session.add(row)
            session.flush()
        return {"id": row.id, "code": row.code, "status": row.status, "expires_at": None}


def fake_discounts(monkeypatch) -> FakeDiscounts:
    fake = FakeDiscounts()
    monkeypatch.setattr(referrals, "issue_discount", fake)
    return fake


def claim(client, shop, code: str, email: str, *, first: str = "", last: str = "",
          ip: str = "198.51.100.7"):
    return client.post(f"/r/{shop.id}/{code}", data={
        "email": email, "first_name": first, "last_name": last},
        environ_base={"REMOTE_ADDR": ip})


def referral_for(session, email: str) -> Referral:
    session.expire_all()
    from app.loyalty.fraud import canonical_email

    return session.execute(select(Referral).where(
        Referral.friend_email_normalized == canonical_email(email))).scalar_one()


def minutes_from_base(moment: datetime) -> float:
    """`placed=`/`updated=` of the payload factories for a moment (they count from
    BASE_TIME)."""
    return (moment - BASE_TIME).total_seconds() / 60


def release_due(session, shop_id: int, now: datetime) -> int:
    """The program's own periodic release (`app.loyalty.release.release_due`) for one shop,
    as of `now`; returns the points released."""
    from app.loyalty.release import release_due as release

    session.commit()
    return release(session, now=now, shop_id=shop_id)
