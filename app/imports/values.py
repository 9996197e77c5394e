"""One cell of an exported file → a value, or `Invalid` with the reason a merchant reads.

Rules:
- Email: RFC syntax (email-validator, no DNS lookup); matched in normalized form.
- Dates: ISO 8601 (`2024-03-05`, `2024-03-05 14:30`, `2024-03-05T14:30:00Z`,
  `2024-03-05 14:30:00 +0100`), slashed (`03/05/2024`) and dotted (`05.03.2024`, day first).
  A value with no offset is in the SHOP's time zone; a date without a time is its midnight.
  Slashed dates are month-first unless their column shows a first number over 12 (then
  day-first for the whole column): `slash_order` decides it once per column.
  A date in the future or before 1990 is refused (an export bug, not a customer).
- Money: a decimal amount, optionally with a currency symbol or code and thousands
  separators; `1.234,56` and `12,50` (decimal comma) are understood. Never negative.
- Consent: yes/no words of the usual tools (yes, no, true, false, 1, 0, subscribed,
  unsubscribed, never_subscribed, opted in/out...); blank or `pending` says nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from app.profiles.models import NOT_SUBSCRIBED, SUBSCRIBED, UNSUBSCRIBED


class Invalid(ValueError):
    """A cell that cannot be imported; str() is the reason."""


EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=65536)  # an orders file names each customer many times
def email(value: str) -> tuple[str, str]:
    """(the address as written, trimmed; its normalized form)."""
    raw = value.strip()
    if not raw:
        raise Invalid("no email address")
    try:
        validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"email {raw!r} is not a valid address ({exc})") from exc
    return raw, raw.lower()


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
                  r"\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)
_OTHER = re.compile(r"^(\d{1,2})([/.])(\d{1,2})\2(\d{4}|\d{2})(?:,?\s+(\d{1,2}):(\d{2})"
                    r"(?::(\d{2}))?\s*([AP]M)?)?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$", re.IGNORECASE)


def slash_order(values: list[str]) -> str:
    """"dmy" when some slashed date in the column starts with a number over 12, else "mdy"."""
    for value in values:
        match = _OTHER.match(value.strip())
        if match and match.group(2) == "/" and int(match.group(1)) > 12:
            return "dmy"
    return "mdy"


def _offset(text: str | None, zone: ZoneInfo) -> ZoneInfo | timedelta:
    if not text or text.upper() in ("Z", "UTC", "GMT"):
        return zone if not text else timedelta(0)
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def when(value: str, zone: ZoneInfo, order: str = "mdy", *, now: datetime | None = None
         ) -> datetime:
    """An aware UTC datetime (see the module docstring for the rules)."""
    raw = value.strip()
    iso = _ISO.match(raw)
    other = None if iso else _OTHER.match(raw)
    try:
        if iso:
            y, m, d, hh, mm, ss, off = iso.groups()
        elif other:
            a, sep, b, y, hh, mm, ss, ampm, off = other.groups()
            d, m = (a, b) if sep == "." or order == "dmy" else (b, a)
            y = str(2000 + int(y)) if len(y) == 2 else y
            if ampm and hh:
                hh = str(int(hh) % 12 + (12 if ampm.upper() == "PM" else 0))
        else:
            raise Invalid(f"date {raw!r} is not in a known format (use YYYY-MM-DD, "
                          "optionally with a time)")
        local = datetime.combine(date(int(y), int(m), int(d)),
                                 time(int(hh or 0), int(mm or 0), int(ss or 0)))
    except ValueError as exc:
        raise Invalid(f"date {raw!r} does not exist ({exc})") from exc
    tz = _offset(off, zone)
    if isinstance(tz, timedelta):
        moment = (local - tz).replace(tzinfo=UTC)
    else:
        moment = local.replace(tzinfo=tz).astimezone(UTC)
    if moment < EARLIEST:
        raise Invalid(f"date {raw!r} is before 1990")
    if moment > (now or datetime.now(UTC)) + timedelta(days=1):
        raise Invalid(f"date {raw!r} is in the future")
    return moment


_MONEY_NOISE = re.compile(r"[\s$€£¥₹₩]|[A-Za-z]{3}$|^[A-Za-z]{3}")


def money(value: str, *, what: str = "amount") -> Decimal:
    raw = value.strip()
    text = _MONEY_NOISE.sub("", raw)
    text = _MONEY_NOISE.sub("", text)
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")   # 1.234,56
        else:
            text = text.replace(",", "")                     # 1,234.56
    elif text.count(",") == 1 and re.search(r",\d{1,2}$", text):
        text = text.replace(",", ".")                        # 12,50
    else:
        text = text.replace(",", "")                         # 1,234
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise Invalid(f"{what} {raw!r} is not an amount of money") from exc
    if not amount.is_finite():
        raise Invalid(f"{what} {raw!r} is not an amount of money")
    if amount < 0:
        raise Invalid(f"{what} {raw!r} is negative")
    if amount >= Decimal("1e13"):
        raise Invalid(f"{what} {raw!r} is too large")
    return amount.quantize(Decimal("0.0001"))


_YES = {"yes", "y", "true", "t", "1", "subscribed", "optedin", "optin", "confirmed",
        "accepted", "granted", "singleoptin", "doubleoptin", "confirmedoptin", "x"}
_NO = {"no", "n", "false", "f", "0", "notsubscribed", "neversubscribed", "none", "declined"}
_OUT = {"unsubscribed", "optedout", "optout", "revoked", "cleaned", "bounced", "suppressed",
        "spamcomplaint", "withdrawn"}
_SILENT = {"", "pending", "unknown", "null", "-", "n/a", "na"}


def consent(value: str) -> str | None:
    """subscribed / not_subscribed / unsubscribed, or None when the cell says nothing."""
    key = re.sub(r"[^a-z0-9/]", "", value.strip().lower())
    if key in _SILENT:
        return None
    if key in _YES:
        return SUBSCRIBED
    if key in _NO:
        return NOT_SUBSCRIBED
    if key in _OUT:
        return UNSUBSCRIBED
    raise Invalid(f"email marketing {value.strip()!r} is neither yes nor no "
                  "(e.g. yes/no, subscribed/unsubscribed)")


# English names of the countries stores most often sell to; other countries as ISO codes.
_COUNTRIES = {
    "unitedstates": "US", "unitedstatesofamerica": "US", "usa": "US", "canada": "CA",
    "unitedkingdom": "GB", "uk": "GB", "greatbritain": "GB", "england": "GB", "ireland": "IE",
    "france": "FR", "germany": "DE", "deutschland": "DE", "spain": "ES", "espana": "ES",
    "italy": "IT", "italia": "IT", "netherlands": "NL", "thenetherlands": "NL",
    "belgium": "BE", "switzerland": "CH", "austria": "AT", "portugal": "PT", "sweden": "SE",
    "norway": "NO", "denmark": "DK", "finland": "FI", "poland": "PL", "australia": "AU",
    "newzealand": "NZ", "japan": "JP", "china": "CN", "india": "IN", "brazil": "BR",
    "mexico": "MX", "southafrica": "ZA", "singapore": "SG", "luxembourg": "LU",
    "czechrepublic": "CZ", "czechia": "CZ", "greece": "GR", "israel": "IL",
}


def country(value: str) -> str:
    raw = value.strip()
    if re.fullmatch(r"[A-Za-z]{2}", raw):
        return raw.upper()
    code = _COUNTRIES.get(re.sub(r"[^a-z]", "", raw.lower()))
    if code is None:
        raise Invalid(f"country {raw!r} is neither a two-letter code (FR) nor a country "
                      "name Sticky knows")
    return code


def quantity(value: str) -> int:
    raw = value.strip()
    try:
        number = Decimal(raw.replace(",", "."))
    except InvalidOperation as exc:
        raise Invalid(f"quantity {raw!r} is not a number") from exc
    if number != number.to_integral_value() or number < 1 or number > 1_000_000:
        raise Invalid(f"quantity {raw!r} is not a whole number of items")
    return int(number)


def currency(value: str) -> str:
    raw = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", raw):
        raise Invalid(f"currency {value.strip()!r} is not a three-letter code (EUR, USD...)")
    return raw


# Order status words of other tools → (financial_status, cancelled).
STATUSES = {
    "paid": ("paid", False), "completed": ("paid", False), "complete": ("paid", False),
    "processing": ("paid", False), "fulfilled": ("paid", False), "shipped": ("paid", False),
    "delivered": ("paid", False), "success": ("paid", False), "succeeded": ("paid", False),
    "pending": ("pending", False), "onhold": ("pending", False), "unpaid": ("pending", False),
    "authorized": ("authorized", False), "partiallypaid": ("partially_paid", False),
    "refunded": ("refunded", False), "partiallyrefunded": ("partially_refunded", False),
    "voided": ("voided", False), "failed": ("voided", False),
    "cancelled": ("voided", True), "canceled": ("voided", True),
}


def status(value: str) -> tuple[str, bool]:
    key = re.sub(r"[^a-z]", "", value.strip().lower()).removeprefix("wc")
    if key not in STATUSES:
        raise Invalid(f"status {value.strip()!r} is not one Sticky knows (paid, pending, "
                      "refunded, partially_refunded, cancelled, completed, processing...)")
    return STATUSES[key]
