"""A store's loyalty program: its settings, their validation, and their versions.

The program is one JSON document per store (`loyalty_programs.settings`), shaped exactly as
`GET /api/loyalty/program` shows it (plus `version`). Every save that changes something is a
new version, kept in `loyalty_program_versions`; every ledger entry records the version and
the rate that produced it, so changing or deleting a rule never rewrites what was awarded.

Rounding, the one rule: **points are whole numbers and fractions are dropped** (rounded
towards zero). An order worth 12.99 at 1 point per unit earns 12 points. Reversals are
computed on what is left of the order, with the same rounding, so an order's entries always
add up to floor(rate × net amount paid) - a refund never takes back more than was given.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.loyalty.models import LoyaltyProgram, LoyaltyProgramVersion

AWARD_ON = ("paid", "fulfilled")
NEGATIVE_BALANCE = ("allow", "floor_zero")
TIER_BASIS = ("spend", "points")
TIER_PERIOD = ("rolling_12_months", "calendar_year", "lifetime")
REWARD_KINDS = ("fixed_amount", "percentage", "free_shipping")

MAX_POINTS = 1_000_000  # any single bonus, cost or adjustment
MAX_RATE = Decimal("1000")
MAX_TIERS = 10
MAX_DAYS = 3650


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: Decimal  # money in shop currency (basis "spend") or points (basis "points")
    multiplier: Decimal = Decimal("1")
    perks: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": str(self.threshold),
                "multiplier": str(self.multiplier), "perks": self.perks}


@dataclass(frozen=True)
class Program:
    """A program as it applies now; the defaults are a store that has not set one up."""

    enabled: bool = False
    points_per_unit: Decimal = Decimal("1")
    award_on: str = "paid"
    pending_days: int = 0
    include_shipping: bool = False
    include_tax: bool = False
    signup_points: int = 0
    first_order_points: int = 0
    birthday_points: int = 0
    negative_balance: str = "allow"
    expiry_days: int | None = None
    expiry_warning_days: int = 14
    tier_basis: str = "spend"
    tier_period: str = "rolling_12_months"
    tiers: tuple[Tier, ...] = ()
    referrals_enabled: bool = False
    referral_advocate_points: int = 0
    # The friend's welcome reward: a discount of this kind and value, made for them alone.
    referral_friend_kind: str = "fixed_amount"
    referral_friend_value: Decimal = Decimal("10")
    referral_friend_minimum_order: Decimal | None = None
    referral_weekly_ip_limit: int = 10
    # The advocate's points stay pending this many days after the friend's order is paid (or
    # `pending_days`, if longer): a return or cancellation in that time takes them back.
    referral_return_days: int = 14
    version: int = 0  # 0: never saved

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "tiers":
                value = [t.as_dict() for t in value]
            elif isinstance(value, Decimal):
                value = str(value)
            out[f.name] = value
        return out

    def tier_named(self, name: str | None) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    def multiplier(self, tier_name: str | None) -> Decimal:
        tier = self.tier_named(tier_name)
        return tier.multiplier if tier else Decimal("1")


FIELDS = tuple(f.name for f in fields(Program) if f.name != "version")


class ProgramInvalid(ValueError):
    """Some changes were refused; `errors` maps each field (`tiers.1.threshold` for a part)
    to why, in words that read after the field's label. Nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        name, reason = next(iter(errors.items()))
        super().__init__(f"{name}: {reason}")


class _Refused(ValueError):
    def __init__(self, reason: str, part: str | None = None) -> None:
        super().__init__(reason)
        self.part = part


def points_for(amount: Decimal, rate: Decimal) -> int:
    """Whole points for `amount` at `rate`: fractions are dropped (see the module's rule)."""
    if amount <= 0 or rate <= 0:
        return 0
    return int((amount * rate).to_integral_value(rounding=ROUND_DOWN))


# --- validation ----------------------------------------------------------------------------


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Refused("must be true or false")
    return value


def _choice(options: tuple[str, ...]):
    def check(value: Any) -> str:
        if value not in options:
            raise _Refused("must be one of " + ", ".join(f'"{o}"' for o in options))
        return value
    return check


def _whole(low: int, high: int, unit: str, *, nullable: bool = False):
    def check(value: Any) -> int | None:
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            extra = ", or null for never" if nullable else ""
            raise _Refused(f"must be a whole number of {unit} from {low} to {high}{extra}")
        return value
    return check


def decimal_text(value: Any, *, low: Decimal, high: Decimal, what: str) -> Decimal:
    """A decimal given as a string ("1.5") or a number; floats are taken by their text."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Refused(f"must be {what} written as a string such as \"1.5\"")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Refused(f"must be {what} written as a string such as \"1.5\"") from None
    if not number.is_finite() or not low <= number <= high:
        raise _Refused(f"must be {what} from {low} to {high}")
    if number.as_tuple().exponent < -4:  # type: ignore[operator]
        raise _Refused("must have at most 4 decimal places")
    # quantize, not normalize: Decimal("500").normalize() is written "5E+2".
    return number.quantize(Decimal(1)) if number == number.to_integral() else number


def _rate(value: Any) -> Decimal:
    return decimal_text(value, low=Decimal("0"), high=MAX_RATE, what="a number of points")


def _money(nullable: bool = False):
    def check(value: Any) -> Decimal | None:
        if value is None and nullable:
            return None
        return decimal_text(value, low=Decimal("0"), high=Decimal("1000000"),
                            what="an amount of money")
    return check


def _tiers(value: Any) -> tuple[Tier, ...]:
    if not isinstance(value, list):
        raise _Refused('must be a list of {"name", "threshold", "multiplier"}')
    if len(value) > MAX_TIERS:
        raise _Refused(f"may hold at most {MAX_TIERS} tiers")
    tiers: list[Tier] = []
    seen: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _Refused('must be {"name", "threshold", "multiplier"}', str(i))
        unknown = set(item) - {"name", "threshold", "multiplier", "perks"}
        if unknown:
            raise _Refused(f"is not a field of a tier: {sorted(unknown)[0]}", str(i))
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
            raise _Refused("must be a name of 1 to 64 characters", f"{i}.name")
        name = name.strip()
        if name.casefold() in seen:
            raise _Refused("is the name of another tier", f"{i}.name")
        seen.add(name.casefold())
        try:
            threshold = decimal_text(item.get("threshold"), low=Decimal("0"),
                                     high=Decimal("100000000"), what="a threshold")
        except _Refused as refused:
            raise _Refused(str(refused), f"{i}.threshold") from None
        try:
            multiplier = decimal_text(item.get("multiplier", "1"), low=Decimal("0"),
                                      high=Decimal("10"), what="a multiplier")
        except _Refused as refused:
            raise _Refused(str(refused), f"{i}.multiplier") from None
        perks = item.get("perks") or ""
        if not isinstance(perks, str) or len(perks) > 500:
            raise _Refused("must be text of at most 500 characters", f"{i}.perks")
        if tiers and threshold <= tiers[-1].threshold:
            raise _Refused("must be higher than the tier before it (list tiers from the "
                           "lowest up)", f"{i}.threshold")
        tiers.append(Tier(name, threshold, multiplier, perks.strip()))
    return tuple(tiers)


_RULES = {
    "enabled": _boolean,
    "points_per_unit": _rate,
    "award_on": _choice(AWARD_ON),
    "pending_days": _whole(0, 365, "days"),
    "include_shipping": _boolean,
    "include_tax": _boolean,
    "signup_points": _whole(0, MAX_POINTS, "points"),
    "first_order_points": _whole(0, MAX_POINTS, "points"),
    "birthday_points": _whole(0, MAX_POINTS, "points"),
    "negative_balance": _choice(NEGATIVE_BALANCE),
    "expiry_days": _whole(1, MAX_DAYS, "days", nullable=True),
    "expiry_warning_days": _whole(0, 365, "days"),
    "tier_basis": _choice(TIER_BASIS),
    "tier_period": _choice(TIER_PERIOD),
    "tiers": _tiers,
    "referrals_enabled": _boolean,
    "referral_advocate_points": _whole(0, MAX_POINTS, "points"),
    "referral_friend_kind": _choice(REWARD_KINDS),
    "referral_friend_value": _money(),
    "referral_friend_minimum_order": _money(nullable=True),
    "referral_weekly_ip_limit": _whole(1, 1000, "referrals"),
    "referral_return_days": _whole(0, 365, "days"),
}
assert set(_RULES) == set(FIELDS)


def validate_changes(changes: Any) -> dict[str, Any]:
    """A partial program (as decoded from JSON) checked and cleaned, or ProgramInvalid naming
    every wrong field. Unknown fields are refused: a typo must not look saved."""
    if not isinstance(changes, dict):
        raise ProgramInvalid({"body": 'must be a JSON object, e.g. {"enabled": true}'})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "version":
            continue  # shown by GET, sent back by clients that PUT what they read
        rule = _RULES.get(name)
        if rule is None:
            errors[str(name)] = "is not a program setting (they are " + ", ".join(FIELDS) + ")"
            continue
        try:
            clean[name] = rule(value)
        except _Refused as refused:
            errors[f"{name}.{refused.part}" if refused.part else name] = str(refused)
    if errors:
        raise ProgramInvalid(errors)
    return clean


def check_whole(program: Program) -> None:
    """Rules about fields together, checked on the program as it would be saved."""
    errors = {}
    if program.referral_friend_kind == "percentage" and program.referral_friend_value > 100:
        errors["referral_friend_value"] = "must be at most 100 for a percentage"
    if program.expiry_days is not None and program.expiry_warning_days >= program.expiry_days:
        errors["expiry_warning_days"] = "must be fewer days than the expiry itself"
    if errors:
        raise ProgramInvalid(errors)


def from_settings(settings: dict[str, Any] | None, *, version: int = 0) -> Program:
    """A stored document back into a Program (fields added since it was saved get defaults)."""
    if not settings:
        return Program(version=version)
    known = {k: v for k, v in settings.items() if k in _RULES}
    clean = validate_changes(known)
    return replace(Program(), **clean, version=version)


# --- reading and saving --------------------------------------------------------------------


def read_program(session: Session, shop_id: int) -> Program:
    row = session.get(LoyaltyProgram, shop_id)
    if row is None:
        return Program()
    # Every domain event reads the program, and validating its document was most of that
    # cost (about 0.1 ms). Parsed programs are kept by their exact document, so whatever
    # changed it (a save, a restore, an edit by hand) is parsed afresh.
    key = (shop_id, row.version, orjson.dumps(row.settings, option=orjson.OPT_SORT_KEYS))
    program = _parsed.get(key)
    if program is None:
        program = from_settings(row.settings, version=row.version)
        if len(_parsed) >= _PARSED_MAX:
            _parsed.clear()
        _parsed[key] = program
    return program


_PARSED_MAX = 512
_parsed: dict[tuple[int, int, bytes], Program] = {}  # Program is immutable: safe to share


def save_program(session: Session, shop_id: int, changes: Any, *,
                 saved_by: str | None = None) -> Program:
    """Apply a partial program: all of it or none (ProgramInvalid). A change makes a new
    version; saving what is already there makes none. Does not commit."""
    clean = validate_changes(changes)
    session.execute(insert_for(session, LoyaltyProgram).values(
        shop_id=shop_id, enabled=False, version=0, settings=Program().as_dict(),
        updated_at=utcnow()).on_conflict_do_nothing(index_elements=["shop_id"]))
    query = (select(LoyaltyProgram).where(LoyaltyProgram.shop_id == shop_id)
             .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).scalar_one()
    current = from_settings(row.settings, version=row.version)
    updated = replace(current, **clean)
    check_whole(updated)
    if updated == current and row.version > 0:
        return current
    document = {k: v for k, v in updated.as_dict().items() if k != "version"}
    row.version += 1
    row.enabled = updated.enabled
    row.settings = document
    row.updated_at = utcnow()
    session.add(LoyaltyProgramVersion(shop_id=shop_id, version=row.version, settings=document,
                                      saved_by=saved_by))
    session.flush()
    return replace(updated, version=row.version)


def program_at(session: Session, shop_id: int, version: int) -> Program | None:
    row = session.execute(select(LoyaltyProgramVersion.settings).where(
        LoyaltyProgramVersion.shop_id == shop_id,
        LoyaltyProgramVersion.version == version)).scalar()
    return None if row is None else from_settings(row, version=version)

