"""Attribution of orders to flow emails ("flow_attribution" in app/subscribers.py).

The rule, last touch:
1. clicks first: the shopper's latest click of a flow email within
   `attribution_click_days` before the order wins, whatever opens came after it (a click is
   the stronger sign that the email brought the shopper to the store);
2. else opens: the latest open within `attribution_open_days` before the order
   (`attribution_open_days` = 0 switches opens off; `attribution_click_days` = 0 likewise
   switches clicks off);
3. else the order is not attributed.

Only real flow emails count: test sends from the editor (`messages.test`, no flow) never do,
and neither do test orders. The touch must come at or before the order is placed.

An order is attributed at most once (`flow_conversions` is unique per order): a replayed or
redelivered `order_placed` changes nothing, and neither does a later touch. Revenue is the
order's total when it was placed, in its own currency (refunds are not taken off, as the
leading email tools count it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, union_all, update
from sqlalchemy.orm import Session

from app import events
from app.db import insert_for
from app.events import DomainEvent, Subscriber
from app.flows.models import EmailEngagement, FlowConversion, Message
from app.profiles.models import Order
from app.settings.service import read_settings
from app.shops.models import Shop

CLICK, OPEN = "click", "open"


@dataclass(frozen=True)
class Touch:
    """The flow email an order is credited to."""

    kind: str  # "click" | "open"
    at: datetime
    message_pk: int
    flow_id: int
    run_id: int | None
    step_id: str | None


def last_touch(session: Session, shop_id: int, customer_id: int, placed_at: datetime, *,
               click_days: int, open_days: int) -> Touch | None:
    """The touch an order placed at `placed_at` by this shopper is credited to (the rule in
    this module's docstring), or None."""
    for kind, days in ((CLICK, click_days), (OPEN, open_days)):
        if days <= 0:
            continue
        touch = _latest(session, shop_id, customer_id, kind, placed_at - timedelta(days=days),
                        placed_at)
        if touch is not None:
            return touch
    return None


def _latest(session: Session, shop_id: int, customer_id: int, kind: str, since: datetime,
            until: datetime) -> Touch | None:
    """The latest `kind` of a real flow email to this shopper in [since, until].

    Every open and click is an `email_engagements` row; the message keeps the first of each
    too. Both are read, so a touch recorded only on the message still counts."""
    real = (Message.shop_id == shop_id, Message.customer_id == customer_id,
            Message.test.is_(False), Message.flow_id.is_not(None))
    columns = (Message.id, Message.flow_id, Message.run_id, Message.step_id)
    engaged = (select(*columns, EmailEngagement.at.label("at"))
               .join(Message, Message.id == EmailEngagement.message_pk)
               .where(EmailEngagement.shop_id == shop_id, EmailEngagement.kind == kind,
                      EmailEngagement.at >= since, EmailEngagement.at <= until, *real))
    first = Message.clicked_at if kind == CLICK else Message.opened_at
    on_message = select(*columns, first.label("at")).where(first >= since, first <= until,
                                                            *real)
    touches = union_all(engaged, on_message).subquery()
    row = session.execute(select(touches).order_by(touches.c.at.desc(), touches.c.id.desc())
                          .limit(1)).first()
    if row is None:
        return None
    return Touch(kind, row.at, row.id, row.flow_id, row.run_id, row.step_id)


def attribute_order(session: Session, shop: Shop, order: Order) -> FlowConversion | None:
    """Credit `order` to the last touch before it, once. Returns the order's conversion (the
    one already recorded, if any), or None when no flow email earned it."""
    existing = session.scalar(select(FlowConversion).where(
        FlowConversion.order_id == order.id))
    if existing is not None or order.test or order.customer_id is None:
        return existing
    settings = read_settings(session, shop)
    touch = last_touch(session, shop.id, order.customer_id, order.placed_at,
                       click_days=settings.attribution_click_days,
                       open_days=settings.attribution_open_days)
    if touch is None:
        return None
    table = FlowConversion.__table__
    # Two deliveries of the same order racing: the unique key on order_id keeps one.
    session.execute(
        insert_for(session, table).values(
            shop_id=shop.id, order_id=order.id, customer_id=order.customer_id,
            flow_id=touch.flow_id, run_id=touch.run_id, step_id=touch.step_id,
            message_pk=touch.message_pk, touch=touch.kind, touched_at=touch.at,
            revenue=order.total_price, currency=order.currency, placed_at=order.placed_at)
        .on_conflict_do_nothing(index_elements=["order_id"]))
    return session.scalar(select(FlowConversion).where(FlowConversion.order_id == order.id))


def handle_event(session: Session, event: DomainEvent) -> None:
    """An order was placed: credit it to a flow email if one earned it."""
    if event.kind != events.ORDER_PLACED:
        return
    order_id = (event.data or {}).get("order_id")
    query = select(Order).where(Order.shop_id == event.shop_id)
    # The event names its order by our id; older events only by the platform's (its ref).
    query = (query.where(Order.id == order_id) if isinstance(order_id, int)
             else query.where(Order.platform_order_id == event.ref))
    order = session.scalar(query)
    shop = session.get(Shop, event.shop_id)
    if order is None or shop is None:
        return
    attribute_order(session, shop, order)


def merge(session: Session, shop_id: int, guest_id: int, into_id: int) -> None:
    """A guest profile merged into a registered one: its attributed orders follow it (the
    guest's row is then deleted, and rows still naming it would go with it)."""
    session.execute(update(FlowConversion).where(
        FlowConversion.shop_id == shop_id, FlowConversion.customer_id == guest_id)
        .values(customer_id=into_id).execution_options(synchronize_session=False))


SUBSCRIBER = Subscriber("flow_attribution", handle_event, kinds={events.ORDER_PLACED},
                        merge=merge)
