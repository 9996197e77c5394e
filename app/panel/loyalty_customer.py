"""The Loyalty card of a customer's page (`/admin/customers/<id>`): balance, pending points,
tier, the newest ledger entries in words, and the merchant's manual adjustment
(`app.loyalty.ledger.adjust`, with a key drawn with the form so a double submit is one
adjustment)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.loyalty import ledger
from app.loyalty.models import LedgerEntry, LoyaltyMember
from app.loyalty.program import read_program
from app.panel.loyalty_forms import AdjustForm
from app.profiles.models import Customer

HISTORY_ROWS = 10
KIND_WORDS = {"earn": "Earned", "pending": "Earned, pending", "release": "Now spendable",
              "redeem": "Redeemed", "reverse": "Taken back", "expire": "Expired",
              "adjust": "Adjusted"}


@dataclass(frozen=True)
class HistoryRow:
    id: int
    kind: str
    what: str  # "Earned", "Adjusted", ...
    points: int
    signed: str  # "+120", "−50"
    reason: str
    by: str | None
    at: datetime
    pending: bool


@dataclass(frozen=True)
class LoyaltyCard:
    member: bool
    balance: int
    pending: int
    earned: int
    tier: str | None
    enrolled_at: datetime | None
    history: list[HistoryRow]
    more: bool
    program_on: bool


def _signed(points: int) -> str:
    return f"+{points:,}" if points > 0 else f"−{abs(points):,}" if points < 0 else "0"


def loyalty_card(session: Session, shop_id: int, customer: Customer) -> LoyaltyCard:
    member = session.get(LoyaltyMember, customer.id)
    rows = list(session.execute(
        select(LedgerEntry).where(LedgerEntry.shop_id == shop_id,
                                  LedgerEntry.customer_id == customer.id)
        .order_by(LedgerEntry.id.desc()).limit(HISTORY_ROWS + 1)).scalars())
    history = [HistoryRow(
        id=row.id, kind=row.kind, what=KIND_WORDS.get(row.kind, row.kind), points=row.points,
        signed=_signed(row.points), reason=row.reason, by=row.created_by, at=row.created_at,
        pending=row.status == "pending") for row in rows[:HISTORY_ROWS]]
    return LoyaltyCard(
        member=member is not None and member.shop_id == shop_id,
        # Read from the table: an ORM copy of the profile may predate the ledger's update.
        balance=ledger.balance(session, shop_id, customer.id),
        pending=member.pending_points if member else 0,
        earned=member.lifetime_points if member else 0,
        tier=member.tier if member else None,
        enrolled_at=member.enrolled_at if member else None,
        history=history, more=len(rows) > HISTORY_ROWS,
        program_on=read_program(session, shop_id).enabled)


def new_adjust_form() -> AdjustForm:
    form = AdjustForm(formdata=None)
    form.draw_key()
    return form


def adjust_points(session: Session, shop_id: int, customer: Customer, form: AdjustForm,
                  author: str) -> str | None:
    """Make the adjustment the posted `form` asks for; returns the sentence to flash, or
    None with the errors set on the form's fields. Does not commit."""
    program = read_program(session, shop_id)
    parsed = form.parsed(ledger.balance(session, shop_id, customer.id),
                         program.negative_balance == "floor_zero")
    if parsed is None:
        return None
    points, reason = parsed
    key = f"panel:{form.key.data}"
    already = session.execute(select(LedgerEntry.id).where(
        LedgerEntry.shop_id == shop_id, LedgerEntry.key == f"adjust:{key}")).first()
    try:
        ledger.adjust(session, shop_id, customer.id, points, reason, created_by=author, key=key)
    except ValueError:  # the key was used for another customer: a form copied across pages
        form.points.errors = ["This form was used for another customer: reload the page and "
                              "try again."]
        return None
    if already is not None:
        return "This adjustment was already made (the form was sent twice): nothing changed."
    balance = ledger.balance(session, shop_id, customer.id)
    return (f"{_signed(points)} points: “{reason}”. The balance is now {balance:,} "
            f"point{'' if balance in (1, -1) else 's'}.")
