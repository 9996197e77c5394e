"""Whether a flow email may go to a shopper now: consent, the suppression list, smart sending
and quiet hours. Each rule is one small function; `app.flows.sending` applies them when a step
is queued and again, with the shopper's row locked, right before the mail server is given the
message.

- Consent. A marketing flow mails only shoppers whose `email_marketing` is "subscribed". A
  transactional flow follows its `send_to`: "subscribed" as marketing, "not_unsubscribed"
  also mails shoppers who never answered (but never one who unsubscribed).
- Suppression. An address in `email_suppressions` (a hard refusal by a mail server, a
  complaint) gets nothing from any flow of that store, until the merchant lifts it.
- Smart sending. At most one marketing email per shopper in `smart_sending_hours` (store
  setting, default 16; 0 switches it off), counting every marketing message given to the mail
  server (`sending` or `sent`) in the window. A message skipped by it is not rescheduled.
- Quiet hours. When the store sets quiet hours ({start, end} as HH:MM in its time zone, which
  may run across midnight), a step due inside them waits for their end.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, literal, select, tuple_
from sqlalchemy.orm import Session

from app.db import insert_for
from app.flows.models import MARKETING, SENDING, SENT, EmailSuppression, Message
from app.profiles.identity import normalize_email
from app.profiles.models import SUBSCRIBED, UNSUBSCRIBED

NOT_SUBSCRIBED_REASON = "no email marketing consent"
UNSUBSCRIBED_REASON = "unsubscribed"
SMART_SENDING_REASON = "smart sending: mailed in the last {hours} h"


def consent_refusal(category: str, send_to: str, email_marketing: str | None) -> str | None:
    """Why this shopper's consent forbids the email, or None when it allows it."""
    if email_marketing == UNSUBSCRIBED:
        return UNSUBSCRIBED_REASON
    if category == MARKETING or send_to != "not_unsubscribed":
        return None if email_marketing == SUBSCRIBED else NOT_SUBSCRIBED_REASON
    return None


def suppression_reason(session: Session, shop_id: int, email: str | None) -> str | None:
    """Why the address is on the store's suppression list, or None."""
    normalized = normalize_email(email)
    if normalized is None:
        return "no email address"
    reason = session.scalar(select(EmailSuppression.reason).where(
        EmailSuppression.shop_id == shop_id,
        EmailSuppression.email_normalized == normalized))
    return None if reason is None else f"suppressed address: {reason}"


def suppress(session: Session, shop_id: int, email: str, reason: str,
             message_pk: int | None, now: datetime) -> None:
    """Put the address on the store's suppression list (once; the first reason stays)."""
    normalized = normalize_email(email)
    if normalized is None:
        return
    session.execute(insert_for(session, EmailSuppression).values(
        shop_id=shop_id, email_normalized=normalized, reason=reason[:1000],
        message_pk=message_pk, created_at=now,
    ).on_conflict_do_nothing(index_elements=["shop_id", "email_normalized"]))


def smart_sending_refusal(session: Session, shop_id: int, customer_id: int, hours: int,
                          now: datetime, *, exclude_pk: int | None = None) -> str | None:
    """Why smart sending holds this shopper's marketing email back, or None. `hours` 0 means
    smart sending is off. `exclude_pk`: the message being decided, never its own reason."""
    if hours <= 0:
        return None
    query = select(Message.id).where(
        Message.shop_id == shop_id, Message.customer_id == customer_id,
        Message.category == MARKETING, Message.test.is_(False),
        Message.status.in_((SENDING, SENT)),
        Message.sending_at >= now - timedelta(hours=hours))
    if exclude_pk is not None:
        query = query.where(Message.id != exclude_pk)
    if session.scalar(select(exists(query))):
        return SMART_SENDING_REASON.format(hours=hours)
    return None


def standing(session: Session, shop_id: int, customer_id: int, email: str | None, hours: int,
             now: datetime, *, exclude_pk: int | None = None) -> tuple[str | None, str | None]:
    """`suppression_reason` and `smart_sending_refusal` in one round trip (the send path
    asks both for every message)."""
    normalized = normalize_email(email)
    if normalized is None:
        return "no email address", None
    suppression = select(EmailSuppression.reason).where(
        EmailSuppression.shop_id == shop_id,
        EmailSuppression.email_normalized == normalized).limit(1).scalar_subquery()
    recent = select(Message.id).where(
        Message.shop_id == shop_id, Message.customer_id == customer_id,
        Message.category == MARKETING, Message.test.is_(False),
        Message.status.in_((SENDING, SENT)),
        Message.sending_at >= now - timedelta(hours=max(hours, 0)))
    if exclude_pk is not None:
        recent = recent.where(Message.id != exclude_pk)
    reason, mailed = session.execute(select(
        suppression, exists(recent) if hours > 0 else literal(False))).one()
    return (None if reason is None else f"suppressed address: {reason}",
            SMART_SENDING_REASON.format(hours=hours) if mailed else None)


def suppressed_addresses(session: Session,
                         addresses: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """{(shop_id, normalized address): "suppressed address: why"} for those of `addresses`
    (pairs of a store and a normalized address) on their store's suppression list: the
    batch form of `suppression_reason`, one round trip."""
    if not addresses:
        return {}
    rows = session.execute(select(
        EmailSuppression.shop_id, EmailSuppression.email_normalized, EmailSuppression.reason,
    ).where(tuple_(EmailSuppression.shop_id, EmailSuppression.email_normalized).in_(
        sorted(addresses))))
    return {(shop_id, email): f"suppressed address: {reason}"
            for shop_id, email, reason in rows}


def last_marketing_mail(session: Session, shoppers: set[tuple[int, int]],
                        since: datetime) -> dict[tuple[int, int], datetime]:
    """{(shop_id, customer_id): latest hand-over} of the marketing mail given to the mail
    server (`sending` or `sent`) since `since`, for `shoppers`: the batch form of
    `smart_sending_refusal`, one round trip; the caller compares with each store's window."""
    if not shoppers:
        return {}
    rows = session.execute(select(
        Message.shop_id, Message.customer_id, func.max(Message.sending_at),
    ).where(
        tuple_(Message.shop_id, Message.customer_id).in_(sorted(shoppers)),
        Message.category == MARKETING, Message.test.is_(False),
        Message.status.in_((SENDING, SENT)), Message.sending_at >= since,
    ).group_by(Message.shop_id, Message.customer_id))
    return {(shop_id, customer_id): at for shop_id, customer_id, at in rows}


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, quiet_hours: dict[str, str] | None,
                zone: ZoneInfo) -> datetime | None:
    """When the quiet hours `now` falls in end (UTC-aware), or None when `now` is not quiet.

    Quiet hours are [start, end) in the store's time zone; start later than end means they run
    across midnight (22:00-08:00); start equal to end means none."""
    if not quiet_hours:
        return None
    start, end = _clock(quiet_hours["start"]), _clock(quiet_hours["end"])
    if start == end:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        quiet = start <= clock < end
        end_day = local.date()
    else:
        quiet = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not quiet:
        return None
    # Built from the wall clock, so a DST change inside the quiet hours still ends them at
    # the merchant's stated local time.
    ends = datetime.combine(end_day, end, tzinfo=zone)
    return ends.astimezone(now.tzinfo)
