"""What the program tells the rest of Sticky: a fact on the shopper's timeline, published as
a domain event (flows send loyalty notices from them).

A fact is recorded once: its (customer, kind, ref) is the timeline's unique key, and the
event is published only when the timeline row is new, so a replayed event or a job that runs
twice publishes nothing the second time. The loyalty subscriber does not subscribe to these
kinds, so nothing it publishes comes back to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app import events
from app.db import insert_for
from app.profiles.models import TimelineEvent

_T = TimelineEvent.__table__


def record(session: Session, shop_id: int, customer_id: int, kind: str, ref: str,
           occurred_at: datetime, data: dict[str, Any]) -> bool:
    """Put the fact on the timeline and publish it, once. Returns whether it was new."""
    if kind not in events.LOYALTY_KINDS:
        raise ValueError(f"not a loyalty event kind: {kind}")
    inserted = session.execute(
        insert_for(session, _T).values(shop_id=shop_id, customer_id=customer_id, kind=kind,
                                       ref=ref[:160], occurred_at=occurred_at, data=data)
        .on_conflict_do_nothing(index_elements=["customer_id", "kind", "ref"])
        .returning(_T.c.id)).first()
    if inserted is None:
        return False
    events.publish(session, [events.DomainEvent(shop_id, customer_id, kind, ref[:160],
                                                occurred_at, data)])
    return True


def record_many(session: Session, shop_id: int, kind: str,
                facts: list[tuple[int, str, datetime, dict[str, Any]]]) -> None:
    """`record` for many (customer id, ref, occurred_at, data) of one kind at once: one
    insert, and one publish of the facts that were new, in the order given."""
    if kind not in events.LOYALTY_KINDS:
        raise ValueError(f"not a loyalty event kind: {kind}")
    if not facts:
        return
    rows = [{"shop_id": shop_id, "customer_id": customer_id, "kind": kind, "ref": ref[:160],
             "occurred_at": occurred_at, "data": data}
            for customer_id, ref, occurred_at, data in facts]
    recorded = {(customer_id, ref) for customer_id, ref in session.execute(
        insert_for(session, _T)
        .on_conflict_do_nothing(index_elements=["customer_id", "kind", "ref"])
        .returning(_T.c.customer_id, _T.c.ref), rows)}
    events.publish(session, [
        events.DomainEvent(shop_id, r["customer_id"], kind, r["ref"], r["occurred_at"],
                           r["data"])
        for r in rows if (r["customer_id"], r["ref"]) in recorded])
