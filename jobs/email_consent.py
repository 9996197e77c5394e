"""Telling the store's platform that a shopper unsubscribed from an email's link.
Ids in, never objects.

- `push_unsubscribe(shop_id, customer_id)`: enqueued after the commit of an unsubscribe
  (app/flows/unsubscribe.py) with retries; raises while Shopify cannot be reached, so RQ tries
  again later. Safe to run twice: setting "unsubscribed" again changes nothing.
"""

from __future__ import annotations

from app.db import db
from app.flows import unsubscribe as consent
from jobs.context import app_context


def push_unsubscribe(shop_id: int, customer_id: int) -> dict:
    with app_context():
        with db.new_session() as session:
            outcome = consent.push_unsubscribe(session, shop_id, customer_id)
            session.commit()
    return {"shop_id": shop_id, "customer_id": customer_id, "outcome": outcome}
