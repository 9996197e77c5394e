"""Domain events: what the profile store tells loyalty, flows and analytics.

A transactional outbox with a cursor per subscriber and shop:

- **Publishing** (`publish`, called by the profile store): the batch's new facts are appended
  to `domain_events` in the batch's own transaction. The mirror never runs a subscriber, so
  it never waits on one and a failing one cannot roll it back. A fact is published once: its
  (customer, kind, ref) is also a timeline row, whose unique key makes a redelivered webhook
  publish nothing the second time. A store's history is not news: facts a backfill imports
  that happened before the shop installed Sticky go on the timeline but are not published.
- **Delivering** (app/events/dispatch.py, run by `jobs.events.dispatch_shop` after a commit
  that published, and by a periodic sweep): each subscriber reads each shop's log in order,
  in its own transactions, and its cursor moves in the same transaction as the effects of
  the events it passed. So a worker that dies loses nothing (the transaction rolls back and
  the events are read again) and a retried job doubles nothing (the cursor has moved).
  Effects outside the database (an email) are made once by their own natural keys.
- **Failing**: a handler that raises is rolled back for that event; its cursor stays there
  (order per subscriber and shop is kept, which a points ledger needs), the failure is
  recorded and logged, and the event is retried with backoff. Other subscribers and shops go
  on. `flask --app app events status` shows it, `events retry` retries now.
- **Replaying**: `events replay NAME --shop STORE [--since]` rewinds a cursor (effects must be
  idempotent by their natural keys); `history()` reads a shop's past events without a cursor
  (a new flow's backtest).
- **Registering**: subscribers are listed by name in `app/subscribers.py`, bound in
  `create_app` (app/events/registry.py). The profile store imports none of them.
"""

from app.events.domain import (
    CART_ABANDONED,
    CHECKOUT_STARTED,
    CUSTOMER_CREATED,
    EMAIL_MARKETING_CHANGED,
    KINDS,
    LOYALTY_KINDS,
    ORDER_CANCELLED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_PLACED,
    POINTS_EARNED,
    POINTS_EXPIRED,
    POINTS_EXPIRING,
    REFERRAL_COMPLETED,
    REFUND_CREATED,
    REWARD_REDEEMED,
    TIER_CHANGED,
    DomainEvent,
)
from app.events.outbox import erase_customers, history, publish, reassign_customer
from app.events.registry import Subscriber

__all__ = [
    "CART_ABANDONED", "CHECKOUT_STARTED", "CUSTOMER_CREATED", "EMAIL_MARKETING_CHANGED",
    "KINDS", "LOYALTY_KINDS", "ORDER_CANCELLED", "ORDER_FULFILLED", "ORDER_PAID",
    "ORDER_PLACED", "POINTS_EARNED", "POINTS_EXPIRED", "POINTS_EXPIRING", "REFERRAL_COMPLETED",
    "REFUND_CREATED", "REWARD_REDEEMED", "TIER_CHANGED", "DomainEvent", "Subscriber",
    "erase_customers", "history", "publish", "reassign_customer",
]
