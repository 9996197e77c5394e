"""The loyalty program as a domain-event subscriber ("loyalty" in app/subscribers.py).

`handle_event` runs in the dispatcher's transaction, which also moves the loyalty cursor:
everything it does commits with the cursor or not at all. Each handler makes its effects
under natural keys, so a replayed event changes nothing.
"""

from __future__ import annotations

import importlib

from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent, Subscriber
from app.loyalty.handlers import HANDLER_MODULES
from app.loyalty.handling import HANDLERS

for _module in HANDLER_MODULES:
    importlib.import_module(_module)


def handle_event(session: Session, event: DomainEvent) -> None:
    """Hand the event to the program's handlers for its kind. Each decides what a disabled
    program does (it awards nothing, but what was awarded is still taken back on a refund)."""
    for handler in HANDLERS.get(event.kind, ()):
        handler(session, event)


def handle_batch(session: Session, events_: list[DomainEvent]) -> None:
    """A dispatch batch's events, in order, with exactly the effects of `handle_event` one by
    one: runs of order events set-based, the rest one by one (`app.loyalty.batch`). In one
    savepoint (the dispatcher's); if anything raises, the dispatcher rolls the batch back and
    hands the events to `handle_event` one by one."""
    from app.loyalty.batch import handle_batch as handle_set_based

    handle_set_based(session, events_, handle_event)


def merge(session: Session, shop_id: int, guest_id: int, into_id: int) -> None:
    from app.loyalty.merge import merge_member

    merge_member(session, shop_id, guest_id, into_id)


WANTED = frozenset({events.CUSTOMER_CREATED, events.ORDER_PAID, events.ORDER_FULFILLED,
                    events.ORDER_CANCELLED, events.REFUND_CREATED})

SUBSCRIBER = Subscriber("loyalty", handle_event, kinds=WANTED, merge=merge,
                        batch_handler=handle_batch)
