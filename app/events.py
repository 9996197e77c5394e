"""Domain events: what the profile store tells loyalty, flows and analytics.

An event is published once per fact, inside the transaction that recorded it: its
(customer, kind, ref) is also a timeline row, and the timeline's unique constraint is what
makes a redelivered webhook publish nothing the second time. Subscribers run in the same
transaction, so a points award commits or rolls back with the order that earned it.

A store's history is not news: facts a backfill imports that happened before the shop
installed Sticky are put on the timeline but not published (no points or emails for past
orders); later facts are published by whichever path records them first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CUSTOMER_CREATED = "customer_created"
ORDER_PLACED = "order_placed"
ORDER_PAID = "order_paid"
ORDER_CANCELLED = "order_cancelled"
ORDER_FULFILLED = "order_fulfilled"
REFUND_CREATED = "refund_created"
CHECKOUT_STARTED = "checkout_started"
CART_ABANDONED = "cart_abandoned"
EMAIL_MARKETING_CHANGED = "email_marketing_changed"


@dataclass(frozen=True, slots=True)
class DomainEvent:
    shop_id: int
    customer_id: int
    kind: str
    ref: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Session, DomainEvent], None]
_subscribers: dict[str, list[Subscriber]] = defaultdict(list)


def subscribe(*kinds: str) -> Callable[[Subscriber], Subscriber]:
    def register(fn: Subscriber) -> Subscriber:
        for kind in kinds:
            _subscribers[kind].append(fn)
        return fn

    return register


def publish(session: Session, events: list[DomainEvent]) -> None:
    for event in events:
        for fn in _subscribers.get(event.kind, ()):
            fn(session, event)
