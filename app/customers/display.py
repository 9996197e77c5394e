"""How the customer pages say things: money with its currency, moments in the store's time
zone, and each timeline row as a sentence. Plain text only; templates escape it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from app.customers.notes import NOTE_ADDED, TAG_ADDED, TAG_REMOVED
from app.money import format_money
from app.profiles.models import NOT_SUBSCRIBED, SUBSCRIBED, UNSUBSCRIBED, TimelineEvent

SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "EUR": "€", "GBP": "£",
           "JPY": "¥", "INR": "₹", "BRL": "R$", "MXN": "MX$"}
CONSENT_LABELS = {SUBSCRIBED: ("Subscribed", "success"),
                  UNSUBSCRIBED: ("Unsubscribed", "critical"),
                  NOT_SUBSCRIBED: ("Not subscribed", None)}


def money(amount: Decimal | str | None, currency: str | None) -> str:
    """An amount as merchants read it: "$1,234.50", "€80.00", "1,200.00 CHF"."""
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(format_money(Decimal(amount), currency) or "0")
    except (InvalidOperation, ValueError):
        return str(amount)
    code = (currency or "").upper()
    digits = f"{abs(value):,}"
    sign = "-" if value < 0 else ""
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{digits} {code}".rstrip()


class LocalTime:
    """Moments shown in the store's time zone ("Mar 4, 2026", "Mar 4, 2026, 3:05 PM")."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def date(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(self.zone)
        return f"{local:%b} {local.day}, {local.year}"

    def datetime(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(self.zone)
        hour = local.hour % 12 or 12
        return f"{self.date(moment)}, {hour}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"

    def iso(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).isoformat() if moment else ""


def safe_link(url: Any) -> str | None:
    """A URL from a store's payload, only if it is a web address (never `javascript:`)."""
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


@dataclass(frozen=True)
class TimelineItem:
    when: datetime
    title: str
    detail: str | None = None  # a note's text, shown under the title
    link: str | None = None  # a checkout's recovery link
    kind: str = ""

    @property
    def is_merchant(self) -> bool:
        return self.kind in (NOTE_ADDED, TAG_ADDED, TAG_REMOVED)


def _order_name(data: dict[str, Any], ref: str) -> str:
    name = data.get("name")
    return f"order {name}" if name else f"order {ref}"


def nps_group(score: int) -> str:
    """An NPS score's group: promoter (9-10), passive (7-8) or detractor (0-6)."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def describe(event: TimelineEvent, currency: str | None) -> TimelineItem:
    """One timeline row as a sentence."""
    data = event.data if isinstance(event.data, dict) else {}
    cur = data.get("currency") or currency
    total = money(data["total_price"], cur) if data.get("total_price") else None
    kind, ref = event.kind, event.ref
    by = f" by {data['author']}" if data.get("author") else ""
    detail = link = None
    if kind == "customer_created":
        title = ("First seen as a guest (an order or checkout without an account)"
                 if ref.startswith("guest:") else "Created a customer account")
    elif kind == "customer_imported":
        source = data.get("file") or "a CSV file"
        title = f"Imported from {source}" + (f", line {data['line']}" if data.get("line") else "")
        detail = ("Brought in from another tool's export: history, not a new sign-up "
                  "(no points, no flows).")
    elif kind == "order_placed":
        title = f"Placed {_order_name(data, ref)}" + (f" for {total}" if total else "")
    elif kind == "order_paid":
        title = f"Paid for {_order_name(data, ref)}"
    elif kind == "order_cancelled":
        title = f"{_order_name(data, ref).capitalize()} was cancelled"
    elif kind == "order_fulfilled":
        title = f"{_order_name(data, ref).capitalize()} was fulfilled"
    elif kind == "refund_created":
        amount = money(data.get("amount"), cur) if data.get("amount") else "a refund"
        title = f"Refunded {amount} on {_order_name(data, data.get('order_id') or ref)}"
    elif kind == "checkout_started":
        title = "Started a checkout" + (f" worth {total}" if total else "")
    elif kind == "cart_abandoned":
        title = "Abandoned a checkout" + (f" worth {total}" if total else "")
        link = safe_link(data.get("recovery_url"))
    elif kind == "email_marketing_changed":
        state = data.get("email_marketing")
        title = {SUBSCRIBED: "Subscribed to email marketing",
                 UNSUBSCRIBED: "Unsubscribed from email marketing"}.get(
            state, "Email marketing consent was cleared")
    elif kind == NOTE_ADDED:
        title, detail = f"Note added{by}", data.get("body")
    elif kind == TAG_ADDED:
        title = f"Tagged “{data.get('tag', '')}”{by}"
    elif kind == TAG_REMOVED:
        title = f"Tag “{data.get('tag', '')}” removed{by}"
    elif kind == "tier_changed":
        title = (f"Tier changed from {data['from']} to {data['to']}"
                 if data.get("from") and data.get("to")
                 else f"Joined tier {data['to']}" if data.get("to")
                 else f"Left tier {data.get('from')}")
        detail = data.get("reason")
    elif kind == "points_expiring":
        title = f"Warned that {data.get('points')} points expire soon"
    elif kind == "points_expired":
        title = f"{data.get('points')} points expired"
    elif kind == "survey_answered":
        nps = data.get("question") != "csat"
        group = {"promoter": " (a promoter)", "passive": " (a passive)",
                 "detractor": " (a detractor)"}
        score = data.get("score")
        title = (f"Answered a feedback survey: {score} out of {10 if nps else 5}"
                 + (group[nps_group(score)] if nps and isinstance(score, int) else ""))
        detail = data.get("comment")
    else:  # a kind another module records: its name, readable
        title = kind.replace("_", " ").capitalize()
    return TimelineItem(event.occurred_at, title, detail, link, kind)
