"""Reading and writing a store's settings: the one place their rules live.

`GET|PUT /api/settings` and the panel's Settings form both go through `read_settings` and
`update_settings`, so a value the form refuses the API refuses too, with the same words.

A store without a `shop_settings` row has the defaults. Two settings follow the store unless
set: the sender name (the store's name) and the time zone (the platform's, else UTC); NULL in
the row means "follow", so renaming the store or moving it renames and moves Sticky too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import insert_for, utcnow
from app.settings.models import ShopSettings
from app.settings.timezone import zone_or_none
from app.shops.models import Shop
from app.shops.outbound import PLATFORM_NAMES

DEFAULT_SMART_SENDING_HOURS = 16
DEFAULT_ATTRIBUTION_CLICK_DAYS = 5
DEFAULT_ATTRIBUTION_OPEN_DAYS = 5
SENDER_NAME_MAX = 100
SMART_SENDING_MAX_HOURS = 7 * 24
ATTRIBUTION_MAX_DAYS = 90
FIELDS = ("sender_name", "sender_email", "reply_to", "timezone", "smart_sending_hours",
          "quiet_hours", "attribution_click_days", "attribution_open_days")
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class SettingsInvalid(ValueError):
    """Some changes were refused; `errors` maps each field (`quiet_hours.start` for a part of
    one) to why, in words that read after the field's label. Nothing was saved."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        field, reason = next(iter(errors.items()))
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class StoreSettings:
    """A store's settings as they apply now (defaults filled in)."""

    sender_name: str
    sender_email: str | None
    reply_to: str | None
    timezone: str
    smart_sending_hours: int
    quiet_hours: dict[str, str] | None
    attribution_click_days: int
    attribution_open_days: int
    # Where the values came from, for the page and the API's extra fields.
    sender_name_chosen: str | None  # None: the store's name
    timezone_chosen: str | None  # None: the platform's zone (or UTC)
    platform_timezone: str | None
    updated_at: datetime | None

    @property
    def timezone_source(self) -> str:
        if self.timezone_chosen:
            return "sticky"
        return "platform" if self.platform_timezone else "utc"

    @property
    def can_send(self) -> bool:
        """Flows send only once the merchant has said which address mail comes from."""
        return self.sender_email is not None

    def as_json(self) -> dict[str, Any]:
        """The `GET /api/settings` shape (DESIGN.md), plus where defaults came from."""
        return {
            "sender_name": self.sender_name,
            "sender_email": self.sender_email,
            "reply_to": self.reply_to,
            "timezone": self.timezone,
            "smart_sending_hours": self.smart_sending_hours,
            "quiet_hours": dict(self.quiet_hours) if self.quiet_hours else None,
            "attribution_click_days": self.attribution_click_days,
            "attribution_open_days": self.attribution_open_days,
            "timezone_source": self.timezone_source,
            "platform_timezone": self.platform_timezone,
            "can_send": self.can_send,
            "updated_at": (self.updated_at.isoformat().replace("+00:00", "Z")
                           if self.updated_at else None),
        }


def store_name(shop: Shop) -> str:
    return (shop.name or "").strip()[:SENDER_NAME_MAX] or shop.domain[:SENDER_NAME_MAX]


def platform_zone_name(shop: Shop) -> str | None:
    return shop.timezone if zone_or_none(shop.timezone) else None


def read_settings(session: Session, shop: Shop) -> StoreSettings:
    row = session.get(ShopSettings, shop.id)
    return _effective(shop, row)


def _effective(shop: Shop, row: ShopSettings | None) -> StoreSettings:
    platform_zone = platform_zone_name(shop)
    chosen_zone = row.timezone if row is not None and zone_or_none(row.timezone) else None
    quiet = None
    if row is not None and row.quiet_hours_start and row.quiet_hours_end:
        quiet = {"start": row.quiet_hours_start, "end": row.quiet_hours_end}
    return StoreSettings(
        sender_name=(row.sender_name if row is not None and row.sender_name
                     else store_name(shop)),
        sender_email=row.sender_email if row is not None else None,
        reply_to=row.reply_to if row is not None else None,
        timezone=chosen_zone or platform_zone or "UTC",
        smart_sending_hours=(row.smart_sending_hours if row is not None
                             else DEFAULT_SMART_SENDING_HOURS),
        quiet_hours=quiet,
        attribution_click_days=(row.attribution_click_days if row is not None
                                else DEFAULT_ATTRIBUTION_CLICK_DAYS),
        attribution_open_days=(row.attribution_open_days if row is not None
                               else DEFAULT_ATTRIBUTION_OPEN_DAYS),
        sender_name_chosen=row.sender_name if row is not None else None,
        timezone_chosen=chosen_zone,
        platform_timezone=platform_zone,
        updated_at=row.updated_at if row is not None else None,
    )


# --- the rules, one function per field: value in (JSON types), clean value out -------------

class _Refused(ValueError):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.field = field  # a part of the field (`start`), when the reason is about it


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sender_name(value: Any) -> str | None:
    if value is None:
        return None  # back to the store's name
    if not isinstance(value, str):
        raise _Refused("must be text")
    name = value.strip()
    if not name or len(name) > SENDER_NAME_MAX:
        raise _Refused(f"must be 1 to {SENDER_NAME_MAX} characters")
    if not name.isprintable():
        # It goes in the From header: a line break there would start a header of its own.
        raise _Refused("must be one line of printable characters (no line breaks or tabs)")
    return name


def _address(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused("must be an email address (text), or null")
    address = value.strip()
    if not address:
        raise _Refused("must be an email address such as hello@yourstore.com")
    try:
        # Syntax only: whether the domain takes mail is the mail provider's to say, and a
        # DNS lookup would make saving settings depend on the network. Internationalized
        # local parts need SMTPUTF8, which many mail servers refuse.
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        why = str(exc).rstrip(".")
        raise _Refused(f"must be a valid email address: {why[:1].lower()}{why[1:]}") from None
    return checked.normalized


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted (reading them scans the tz database)."""
    return tuple(sorted(available_timezones()))


def _timezone(value: Any) -> str | None:
    if value is None:
        return None  # back to the platform's zone
    if not isinstance(value, str) or value not in time_zone_names():
        raise _Refused("must be an IANA time zone name such as Europe/Paris, or null to "
                       "follow the store's platform")
    return value


def _whole_number(low: int, high: int, unit: str):
    def check(value: Any) -> int:
        if not _is_whole(value) or not low <= value <= high:
            raise _Refused(f"must be a whole number of {unit} from {low} to {high}")
        return value
    return check


def _clock(value: Any, part: str) -> str:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise _Refused("must be a time of day as HH:MM, from 00:00 to 23:59", part)
    return value


def _quiet_hours(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Refused('must be null or {"start": "HH:MM", "end": "HH:MM"}')
    for key in value:
        if key not in ("start", "end"):
            raise _Refused("is not a field of quiet hours (only start and end are)", str(key))
    for key in ("start", "end"):
        if key not in value:
            raise _Refused("is required", key)
    start, end = _clock(value["start"], "start"), _clock(value["end"], "end")
    if start == end:
        raise _Refused("must differ from the start (quiet hours of no length mean none: "
                       "turn them off instead)", "end")
    return {"start": start, "end": end}


_RULES = {
    "sender_name": _sender_name,
    "sender_email": _address,
    "reply_to": _address,
    "timezone": _timezone,
    "smart_sending_hours": _whole_number(0, SMART_SENDING_MAX_HOURS, "hours"),
    "quiet_hours": _quiet_hours,
    "attribution_click_days": _whole_number(0, ATTRIBUTION_MAX_DAYS, "days"),
    "attribution_open_days": _whole_number(0, ATTRIBUTION_MAX_DAYS, "days"),
}


def validate_changes(changes: Any) -> dict[str, Any]:
    """`changes` (a partial settings object, as decoded from JSON) checked and cleaned, or
    SettingsInvalid naming every field that is wrong. Unknown fields are refused: a typo
    must not look saved."""
    if not isinstance(changes, dict):
        raise SettingsInvalid({"body": "must be a JSON object of settings, e.g. "
                                       '{"smart_sending_hours": 24}'})
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        rule = _RULES.get(field)
        if rule is None:
            errors[str(field)] = ("is not a setting (settings are "
                                  + ", ".join(FIELDS) + ")")
            continue
        try:
            clean[field] = rule(value)
        except _Refused as refused:
            errors[f"{field}.{refused.field}" if refused.field else field] = str(refused)
    if errors:
        raise SettingsInvalid(errors)
    return clean


def update_settings(session: Session, shop: Shop, changes: Any) -> StoreSettings:
    """Apply a partial settings object: every change or none (SettingsInvalid). Fields not
    in `changes` keep their values, even when another request changes other fields at the
    same moment (the row is locked while the changes are applied). Commits."""
    clean = validate_changes(changes)
    row = _locked_row(session, shop)
    for field, value in clean.items():
        if field == "quiet_hours":
            row.quiet_hours_start = value["start"] if value else None
            row.quiet_hours_end = value["end"] if value else None
        else:
            setattr(row, field, value)
    row.updated_at = utcnow()
    session.commit()
    return _effective(shop, row)


def _locked_row(session: Session, shop: Shop) -> ShopSettings:
    # The first save creates the row; two first saves at once must not collide on its key.
    session.execute(
        insert_for(session, ShopSettings)
        .values(shop_id=shop.id, smart_sending_hours=DEFAULT_SMART_SENDING_HOURS,
                attribution_click_days=DEFAULT_ATTRIBUTION_CLICK_DAYS,
                attribution_open_days=DEFAULT_ATTRIBUTION_OPEN_DAYS, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["shop_id"]))
    query = (select(ShopSettings).where(ShopSettings.shop_id == shop.id)
             .execution_options(populate_existing=True))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).scalar_one()


def platform_name(shop: Shop) -> str:
    return PLATFORM_NAMES.get(shop.platform, shop.platform)
