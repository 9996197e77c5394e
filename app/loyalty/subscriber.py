"""The loyalty program as a domain-event subscriber ("loyalty" in app/subscribers.py).

`handle_event` runs in the dispatcher's transaction, which also moves the loyalty cursor:
everything it does commits with the cursor or not at all. Each handler below makes its
effects under natural keys, so a replayed event changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent, Subscriber

Handler = Callable[[Session, DomainEvent], None]

# kind -> handlers, in order. Each module of the program adds its own (see `on`).
HANDLERS: dict[str, list[Handler]] = {}


def on(*kinds: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for kind in kinds:
            HANDLERS.setdefault(kind, []).append(handler)
        return handler
    return register


def handle_event(session: Session, event: DomainEvent) -> None:
    """Hand the event to the program's handlers for its kind. Each decides what a disabled
    program does (it awards nothing, but what was awarded is still taken back on a refund)."""
    for handler in HANDLERS.get(event.kind, ()):
        handler(session, event)


def merge(session: Session, shop_id: int, guest_id: int, into_id: int) -> None:
    from app.loyalty.merge import merge_member

    merge_member(session, shop_id, guest_id, into_id)


WANTED = frozenset({events.CUSTOMER_CREATED, events.ORDER_PAID, events.ORDER_FULFILLED,
                    events.ORDER_CANCELLED, events.REFUND_CREATED})

SUBSCRIBER = Subscriber("loyalty", handle_event, kinds=WANTED, merge=merge)
