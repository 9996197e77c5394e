"""Redeeming points for a reward: a single-use discount code made on the platform.

`redeem` holds first: in one transaction it takes the member's lock, checks what they can
spend (balance minus points held by unconfirmed redemptions), and commits a "held"
redemption with its code already chosen. Only then is the platform called
(`app.loyalty.issuing`), and the points are taken when it confirms the code. Two redemptions
racing for the same points queue on the member's lock, and the second sees the first's hold.

`issue_discount` makes a code that costs no points (a referred friend's welcome reward) by
the same path: held, made on the platform, retried without ever making it twice.

Codes are `STICKY-` and 10 characters from an alphabet without look-alikes (32^10, about
10^15, drawn from `secrets`): unguessable, and unique per store by a database constraint.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import utcnow
from app.loyalty import issuing, ledger
from app.loyalty.ledger import REFERRAL_ALPHABET
from app.loyalty.models import HELD, LoyaltyMember, LoyaltyReward, Redemption
from app.loyalty.program import REWARD_KINDS, read_program
from app.profiles.models import Customer
from app.shops.models import Shop

CODE_PREFIX = "STICKY-"
CODE_LENGTH = 10
MAX_KEY_LENGTH = 80  # loyalty_redemptions.idempotency_key


class RedemptionRefused(Exception):
    """The shopper cannot redeem this (not enough points, inactive reward, ...): `reason` is
    a sentence to show them; `status` the HTTP status an API answers with."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def new_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(CODE_LENGTH))


def redemption_json(row: Any) -> dict[str, Any]:
    """A redemption as the API shows it. `points`: what it costs (0 for a referral code);
    `error`: why the platform made no code (status "failed")."""
    reward = row.reward or {}
    return {
        "id": row.id, "code": row.code, "status": row.status, "points": row.points,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "customer_id": row.customer_id, "reward_id": row.reward_id,
        "reward": {k: reward.get(k) for k in ("name", "kind", "value", "minimum_order",
                                               "expires_after_days")},
        "purpose": row.purpose, "error": row.error,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "issued_at": row.issued_at.isoformat() if row.issued_at else None,
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def reward_snapshot(reward: LoyaltyReward) -> dict[str, Any]:
    return {"id": reward.id, "name": reward.name, "title": f"Sticky reward: {reward.name}",
            "kind": reward.kind, "value": _money(reward.value),
            "points_cost": reward.points_cost, "minimum_order": _money(reward.minimum_order),
            "expires_after_days": reward.expires_after_days}


def _by_key(session: Session, shop_id: int, key: str) -> Redemption | None:
    return session.execute(select(Redemption).where(
        Redemption.shop_id == shop_id, Redemption.idempotency_key == key)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def _insert_held(session: Session, values: dict[str, Any]) -> Redemption | None:
    """Insert a held redemption under a fresh code (drawn again on the rare collision);
    None when its idempotency key is already taken (a concurrent twin won)."""
    for _ in range(5):
        row = Redemption(**values, code=new_code(), status=HELD, attempts=0,
                         created_at=utcnow())
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row
        except IntegrityError:
            if _by_key(session, values["shop_id"], values["idempotency_key"]) is not None:
                return None
    raise RuntimeError("could not draw a unique discount code")


def _replay(row: Redemption, customer_id: int | None, reward_id: int | None) -> dict[str, Any]:
    if row.customer_id != customer_id or row.reward_id != reward_id:
        raise RedemptionRefused("This Idempotency-Key was already used for another "
                                "redemption; send a new key for a new one.", 422)
    return redemption_json(row)


def redeem(session: Session, shop: Shop, customer_id: int, reward_id: int, *,
           idempotency_key: str | None = None) -> dict[str, Any]:
    """Hold the points, make the code on the platform, then take the points. Manages its own
    transactions (the hold is committed before the platform is called). Returns
    {"id", "code", "status", "points", "expires_at", ...}: status "issued" (the code works),
    "failed" (the platform refused; `error` says why; no points taken) or "held" (no answer
    yet; a job finishes it). The same `idempotency_key` returns the same redemption. Raises
    RedemptionRefused."""
    key = idempotency_key or f"auto:{secrets.token_hex(16)}"
    if len(key) > MAX_KEY_LENGTH:
        raise RedemptionRefused(f"The Idempotency-Key is longer than {MAX_KEY_LENGTH} "
                                "characters.", 400)
    existing = _by_key(session, shop.id, key)
    if existing is not None:
        session.commit()
        return _replay(existing, customer_id, reward_id)
    customer = session.execute(select(Customer).where(
        Customer.id == customer_id, Customer.shop_id == shop.id)).scalar_one_or_none()
    if customer is None or customer.deleted_at is not None:
        raise RedemptionRefused(f"No customer {customer_id} in this store.", 404)
    reward = session.execute(select(LoyaltyReward).where(
        LoyaltyReward.id == reward_id, LoyaltyReward.shop_id == shop.id)).scalar_one_or_none()
    if reward is None or reward.deleted_at is not None:
        raise RedemptionRefused(f"No reward {reward_id} in this store.", 404)
    if not read_program(session, shop.id).enabled:
        raise RedemptionRefused("The rewards program is closed at the moment, so points "
                                "cannot be redeemed.")
    if not reward.active or reward.kind not in REWARD_KINDS:
        raise RedemptionRefused(f"The reward \u201c{reward.name}\u201d is not available at "
                                "the moment.")
    if session.get(LoyaltyMember, customer.id) is None:
        raise RedemptionRefused("Join the rewards program to collect points, then redeem "
                                "them for rewards.")

    ledger.lock_member(session, shop.id, customer.id)
    short = reward.points_cost - ledger.spendable(session, shop.id, customer.id)
    if short > 0:
        session.rollback()
        raise RedemptionRefused(f"You need {short} more point{'s' if short != 1 else ''} "
                                "for this reward.")
    row = _insert_held(session, {
        "shop_id": shop.id, "customer_id": customer.id, "email": customer.email,
        "reward_id": reward.id, "reward": reward_snapshot(reward),
        "points": reward.points_cost, "idempotency_key": key, "purpose": "reward"})
    if row is None:  # the same key, committed meanwhile by a concurrent request
        twin = _by_key(session, shop.id, key)
        session.commit()
        assert twin is not None
        return _replay(twin, customer_id, reward_id)
    redemption_id = row.id
    session.commit()  # the hold: from here the points are reserved

    issuing.attempt(session, shop, redemption_id, look_up_first=False)
    return redemption_json(session.execute(select(Redemption).where(
        Redemption.id == redemption_id).execution_options(populate_existing=True)).scalar_one())


def issue_discount(session: Session, shop: Shop, *, key: str, email: str,
                   customer_id: int | None, kind: str, value: Decimal,
                   minimum_order: Decimal | None, expires_after_days: int | None,
                   title: str) -> dict[str, Any]:
    """A code that costs no points, made out to `email` (and to the customer, when they have
    a profile): a referred friend's welcome reward. `key` is the caller's natural key: the
    same key returns the same code, never a second one; a code still held (the platform
    did not confirm it) is tried again under that key. Manages its own transactions.
    Returns {"id", "code", "status", "expires_at"} (status as for `redeem`); ValueError for
    a kind or value that makes no discount."""
    if kind not in REWARD_KINDS:
        raise ValueError(f"kind must be one of {', '.join(REWARD_KINDS)}")
    if kind != "free_shipping" and not value > 0:
        raise ValueError("value must be more than 0")
    if kind == "percentage" and value > 100:
        raise ValueError("a percentage cannot be more than 100")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key must be 1 to {MAX_KEY_LENGTH} characters")

    def answer(row: Redemption) -> dict[str, Any]:
        return {"id": row.id, "code": row.code, "status": row.status,
                "expires_at": row.expires_at.isoformat() if row.expires_at else None}

    row = _by_key(session, shop.id, key)
    if row is not None and row.status == HELD:
        # an earlier call could not confirm the code: look it up on the platform (made, the
        # answer lost) and make it only if absent, under the same code
        redemption_id = row.id
        session.commit()
        issuing.attempt(session, shop, redemption_id, look_up_first=True)
        row = _by_key(session, shop.id, key)
        assert row is not None
    if row is None:
        row = _insert_held(session, {
            "shop_id": shop.id, "customer_id": customer_id, "email": email,
            "reward_id": None, "points": 0, "idempotency_key": key, "purpose": "referral",
            "reward": {"name": title, "title": title, "kind": kind, "value": str(value),
                       "minimum_order": _money(minimum_order),
                       "expires_after_days": expires_after_days}})
        if row is None:
            row = _by_key(session, shop.id, key)
            assert row is not None
        else:
            redemption_id = row.id
            session.commit()
            issuing.attempt(session, shop, redemption_id, look_up_first=False)
            row = _by_key(session, shop.id, key)
            assert row is not None
    result = answer(row)
    session.commit()
    return result
