"""Predictions as a domain-event subscriber ("predictions" in app/subscribers.py).

A customer whose orders changed (placed, paid, cancelled, refunded) is rescored at once with
the shop's stored parameters, as of today: their churn risk, expected orders and CLV follow
their orders without waiting for the weekly refit. Rescoring recomputes from the stored
orders, so a replayed event changes nothing. Without a fitted model it does nothing.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from app import events
from app.events import DomainEvent, Subscriber

WANTED = frozenset({events.ORDER_PLACED, events.ORDER_PAID, events.ORDER_CANCELLED,
                    events.REFUND_CREATED})


def handle_event(session: Session, event: DomainEvent) -> None:
    handle_batch(session, [event])


def handle_batch(session: Session, events_: list[DomainEvent]) -> None:
    """All the batch's customers, one rescoring per shop."""
    from app.predictions.service import score_customers

    by_shop: dict[int, set[int]] = defaultdict(set)
    for event in events_:
        if event.kind in WANTED and event.customer_id:
            by_shop[event.shop_id].add(event.customer_id)
    for shop_id, customer_ids in by_shop.items():
        score_customers(session, shop_id, customer_ids)


SUBSCRIBER = Subscriber("predictions", handle_event, kinds=WANTED, batch_handler=handle_batch)
