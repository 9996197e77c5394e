"""A tier entered on the event that crosses its threshold (the rules: `app.loyalty.tiers`).

Only the subscriber imports this module (it is listed in `app/loyalty/handlers.py`, after the
earning module), so its handler registers after earning's whatever else imports `tiers`: the
event's points are in the ledger before a tier by points earned is measured.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent
from app.loyalty.handling import on
from app.loyalty.program import read_program
from app.loyalty.tiers import enter
from app.profiles.models import Customer
from app.shops.models import Shop


@on(events.CUSTOMER_CREATED, events.ORDER_PAID, events.ORDER_FULFILLED)
def enter_on_event(session: Session, event: DomainEvent) -> None:
    """Move the member up if the event's moment finds them past a higher threshold.
    Refunds and cancellations only lower a figure: the daily run handles them."""
    program = read_program(session, event.shop_id)
    if not program.enabled or not program.tiers:
        return
    shop = session.get(Shop, event.shop_id)
    known = session.execute(select(Customer.id).where(
        Customer.id == event.customer_id, Customer.shop_id == event.shop_id)).first()
    if shop is None or known is None:
        return  # merged away or erased since the event
    enter(session, shop, program, event.customer_id, event.occurred_at)
