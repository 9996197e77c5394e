"""Shared by the referral tests: a store whose program runs referrals, an advocate, Shopify
answering for the friend's discount code, and the program's periodic release."""

from __future__ import annotations

from datetime import datetime

import pytest
import responses
from sqlalchemy import select

from app.loyalty import ledger
from app.loyalty.models import LoyaltyMember, Redemption, Referral
from app.loyalty.program import save_program
from app.profiles.models import Customer
from tests.factories import BASE_TIME
from tests.loyalty.rewards_support import FakeShopify

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


@pytest.fixture
def shopify_discounts():
    """Shopify's Admin GraphQL API at the HTTP edge, for the friend's code: the real
    `issue_discount` and Shopify connector make it. `requests` is patched process-wide, so a
    live server's thread is answered too; the browser's own traffic to 127.0.0.1 passes."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru("http://127.0.0.1")
        yield FakeShopify(rsps)


def friend_code_of(session, email: str) -> str:
    """The code the friend was given, as the friend's redemption records it."""
    from app.loyalty.fraud import canonical_email

    code = session.execute(select(Redemption.code).join(
        Referral, Referral.friend_redemption_id == Redemption.id).where(
        Referral.friend_email_normalized == canonical_email(email))).scalar_one_or_none()
    assert code, f"no code was issued to {email}"
    return code


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
