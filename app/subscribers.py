"""Every domain-event subscriber, by name: the one place they are registered.

`create_app` binds this list (app/events/registry.py); the profile store never imports it.
Loyalty, flows and analytics each add one line here, e.g.

    Subscriber("loyalty", loyalty.handle_event, kinds={ORDER_PAID, REFUND_CREATED, ...}),

The order of the list is the order in which a shop's new events are handed to subscribers;
each subscriber has its own cursor and transactions, so none waits on another's failure.
"""

from __future__ import annotations

from app.analytics.rfm_subscriber import SUBSCRIBER as RFM
from app.events.registry import Subscriber
from app.flows.attribution import SUBSCRIBER as FLOW_ATTRIBUTION
from app.flows.subscriber import SUBSCRIBER as FLOWS
from app.loyalty.subscriber import SUBSCRIBER as LOYALTY
from app.predictions.subscriber import SUBSCRIBER as PREDICTIONS

SUBSCRIBERS: tuple[Subscriber, ...] = (LOYALTY, FLOW_ATTRIBUTION, FLOWS, RFM, PREDICTIONS)
