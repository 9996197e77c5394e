"""RFM kept current as orders arrive: the "analytics.rfm" domain-event subscriber.

An order placed, paid, cancelled or fulfilled, or a refund, changes (or may change) the
customer's figures, which the profile store has already recomputed in the transaction that
published the event. The subscriber rescores those customers against the shop's stored cut
points (`app.analytics.rfm.rescore_customers`), in the dispatcher's transaction. Rescoring
is recomputed from the figures, never incremented, so a replayed event changes nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from app import events
from app.analytics.rfm import rescore_customers
from app.events import DomainEvent, Subscriber

WANTED = frozenset({events.ORDER_PLACED, events.ORDER_PAID, events.ORDER_CANCELLED,
                    events.ORDER_FULFILLED, events.REFUND_CREATED})


def handle_event(session: Session, event: DomainEvent) -> None:
    rescore_customers(session, event.shop_id, [event.customer_id])


def handle_batch(session: Session, batch: list[DomainEvent]) -> None:
    """The batch's customers rescored once each (the same effect as one by one: scores
    depend only on the figures and the stored cut points)."""
    by_shop: dict[int, set[int]] = defaultdict(set)
    for event in batch:
        by_shop[event.shop_id].add(event.customer_id)
    for shop_id, customer_ids in by_shop.items():
        rescore_customers(session, shop_id, customer_ids)


SUBSCRIBER = Subscriber("analytics.rfm", handle_event, kinds=WANTED, batch_handler=handle_batch)
