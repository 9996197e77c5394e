"""Opens and clicks of flow emails, recorded from the tracking links (app/flows/tracking_views.py).

Every open and click is a row of `email_engagements`; the message keeps the first of each
(`opened_at`, `clicked_at`), which attribution and the flow figures read. A click implies an
open: a shopper who clicked without loading images (so no pixel) did open the email, so the
first click also records the open. Test sends are never tracked (their links carry no
message), and a message that no longer exists records nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import utcnow
from app.flows.models import EmailEngagement, Message

OPEN, CLICK = "open", "click"


def record(session: Session, message_pk: int, kind: str, *, url: str | None = None,
           now: datetime | None = None) -> bool:
    """Record an open or a click of `message_pk`; commits. False when there is no such
    (tracked) message."""
    if kind not in (OPEN, CLICK):
        raise ValueError(f"unknown engagement {kind!r}")
    if not isinstance(message_pk, int) or isinstance(message_pk, bool) or message_pk <= 0:
        return False
    now = now or utcnow()
    # Locked, so two first opens at once record one `opened_at`.
    message = session.scalar(select(Message).where(Message.id == message_pk).with_for_update())
    if message is None or message.test:
        session.rollback()
        return False
    if message.opened_at is None:
        if kind == CLICK:
            session.add(_row(message, OPEN, None, now))
        message.opened_at = now
    if kind == CLICK and message.clicked_at is None:
        message.clicked_at = now
    session.add(_row(message, kind, url, now))
    session.commit()
    return True


def _row(message: Message, kind: str, url: str | None, now: datetime) -> EmailEngagement:
    return EmailEngagement(shop_id=message.shop_id, message_pk=message.id,
                           customer_id=message.customer_id, kind=kind, url=url, at=now)
