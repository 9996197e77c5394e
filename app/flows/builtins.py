"""The built-in flows every store gets: installed as drafts, with sensible defaults, each one
editable like a flow of the merchant's own.

A built-in is a flow whose `key` is one of `BUILTINS` (unique per shop, so installing twice
creates nothing). Its email steps start from the sources in templates/email/builtin/
(`<key>_<n>.html`, each `{% extends "layout.html" %}`), copied into the flow's definition at
install: the merchant edits them there, and a later change of the files never rewrites a
store's emails.

Choices a merchant may want to know about:
- welcome: starts on a new customer or on newsletter consent given; the flow filters ask for a
  subscribed shopper without orders, so the account created at a first checkout gets the
  post-purchase thank-you instead, and someone who signs up and later consents enters once,
  when they consent (re-entry: once ever).
- abandoned_checkout: no discount by default. A code given to every abandoner teaches shoppers
  to abandon; the merchant who wants one adds a discount step before the reminder, whose
  email already shows the code (`discount`) whenever the run has made one.
- post_purchase: a thank-you for a first order, then a cross-sell a week later
  (`recommendations`, from app.flows.crosssell). The review request follows fulfilment, not
  the order, so it lives in `feedback`: the parcel has arrived, the shopper is asked how it
  went (NPS, one click) and a few days later for a review.
- win_back and birthday make a unique, single-use code (a discount step) for the email after it.
- loyalty_notices is transactional (a shopper's own points), one email per kind of notice,
  chosen by a split on the event's kind.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import events
from app.flows.models import MARKETING, TRANSACTIONAL, Flow
from app.flows.service import create_flow

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email" / "builtin"
DAY = 24 * 60


def source(name: str) -> str:
    """The default HTML source of one built-in email (`welcome_1`, ...)."""
    return (TEMPLATES / f"{name}.html").read_text(encoding="utf-8")


def _email(step_id: str, template: str, subject: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "email", "subject": subject, "html": source(template),
            "text": None, "template": template, **extra}


def _wait(step_id: str, minutes: int) -> dict[str, Any]:
    return {"id": step_id, "type": "wait", "minutes": minutes}


def _kind_is(kind: str) -> dict[str, Any]:
    return {"field": "event.kind", "op": "eq", "value": kind}


SUBSCRIBED_WITHOUT_ORDERS = [
    {"field": "email_marketing", "op": "eq", "value": "subscribed"},
    {"field": "orders_count", "op": "eq", "value": 0},
]

# key -> the data `app.flows.service.create_flow` takes (name, category, definition...).
BUILTINS: dict[str, dict[str, Any]] = {
    "welcome": {
        "name": "Welcome series",
        "category": MARKETING,
        "trigger": {"type": "event",
                    "event": [events.CUSTOMER_CREATED, events.EMAIL_MARKETING_CHANGED]},
        "flow_filters": SUBSCRIBED_WITHOUT_ORDERS,
        "exit_on_order": True,
        "steps": [
            _email("welcome-1", "welcome_1", "Welcome to {{ shop.name }}"
                   "{% if customer.first_name %}, {{ customer.first_name }}{% endif %}!"),
            _wait("wait-3d", 3 * DAY),
            _email("welcome-2", "welcome_2", "A little more about {{ shop.name }}"),
        ],
    },
    "abandoned_checkout": {
        "name": "Abandoned checkout",
        "category": MARKETING,
        "trigger": {"type": "event", "event": events.CHECKOUT_STARTED},
        "exit_on_order": True,
        "reentry_days": 7,
        "steps": [
            _wait("delay", 60),
            _email("checkout-1", "abandoned_checkout_1",
                   "You left something in your cart at {{ shop.name }}"),
            _wait("reminder-delay", DAY),
            _email("checkout-2", "abandoned_checkout_2",
                   "{% if discount %}A code for your checkout at {{ shop.name }}"
                   "{% else %}Your checkout at {{ shop.name }} is still saved{% endif %}"),
        ],
    },
    "post_purchase": {
        "name": "Post-purchase",
        "category": MARKETING,
        "trigger": {"type": "event", "event": events.ORDER_PLACED},
        # Checked once, on the order: a first order (this one is already counted).
        "trigger_filters": [{"field": "orders_count", "op": "eq", "value": 1}],
        "steps": [
            _email("thanks", "post_purchase_1",
                   "Thank you for your first order{% if order and order.name %} "
                   "({{ order.name }}){% endif %}!"),
            _wait("wait-7d", 7 * DAY),
            _email("cross-sell", "post_purchase_2",
                   "Picked for you{% if customer.first_name %}, {{ customer.first_name }}"
                   "{% endif %}"),
        ],
    },
    "feedback": {
        "name": "Feedback and review request",
        "category": MARKETING,
        "trigger": {"type": "event", "event": events.ORDER_FULFILLED},
        "reentry_days": 30,
        "steps": [
            _wait("wait-3d", 3 * DAY),
            _email("survey", "feedback_1", "How did we do, {{ customer.first_name or "
                   "'there' }}?", survey="nps"),
            _wait("wait-4d", 4 * DAY),
            _email("review", "feedback_2", "Would you review your order from {{ shop.name }}?"),
        ],
    },
    "win_back": {
        "name": "Win-back",
        "category": MARKETING,
        # On predicted churn risk once the store's models are fitted; until then, and for
        # one-time buyers, on the interval rule (app.flows.candidates).
        "trigger": {"type": "lapsed", "basis": "churn_risk", "above": 0.5, "factor": 2,
                    "min_days": 45, "max_days": 365},
        "exit_on_order": True,
        # A shopper lapses again only after a new order (the trigger key names their last
        # order); this keeps two win-backs at least three months apart as well.
        "reentry_days": 90,
        "steps": [
            _email("reminder", "win_back_1", "We've missed you at {{ shop.name }}"),
            _wait("wait-7d", 7 * DAY),
            {"id": "code", "type": "discount", "kind": "percentage", "value": "15",
             "expires_after_days": 14},
            _email("offer", "win_back_2", "15% off your next order, just for you"),
        ],
    },
    "birthday": {
        "name": "Birthday",
        "category": MARKETING,
        "trigger": {"type": "date", "property": "birthday", "days_before": 0},
        "steps": [
            {"id": "code", "type": "discount", "kind": "percentage", "value": "15",
             "expires_after_days": 30},
            _email("birthday", "birthday_1", "Happy birthday from {{ shop.name }}! 🎁"),
        ],
        "reentry_days": 300,
    },
    "loyalty_notices": {
        "name": "Loyalty notices",
        "category": TRANSACTIONAL,
        "trigger": {"type": "event", "event": [
            events.POINTS_EARNED, events.TIER_CHANGED, events.POINTS_EXPIRING,
            events.REWARD_REDEEMED]},
        # Notices are about the shopper's own account: sent unless they unsubscribed, never
        # held back by smart sending, each one once (every event is its own trigger).
        "send_to": "not_unsubscribed",
        "smart_sending": False,
        # Every event is a notice of its own (a redeemed reward's code must never be held
        # back because points were earned the same day).
        "reentry_days": 0,
        "steps": [
            {"id": "is-tier", "type": "split", "condition": _kind_is(events.TIER_CHANGED),
             "yes": [_email("tier", "loyalty_notices_2",
                            "You're now {{ (loyalty.tier if loyalty else none) or 'in a new "
                            "tier' }} at {{ shop.name }}")],
             "no": [
                 {"id": "is-expiring", "type": "split",
                  "condition": _kind_is(events.POINTS_EXPIRING),
                  "yes": [_email("expiring", "loyalty_notices_3",
                                 "Your {{ shop.name }} points expire soon")],
                  "no": [
                      {"id": "is-reward", "type": "split",
                       "condition": _kind_is(events.REWARD_REDEEMED),
                       "yes": [_email("reward", "loyalty_notices_4",
                                      "Your reward from {{ shop.name }} is ready")],
                       "no": [_email("earned", "loyalty_notices_1",
                                     "You earned points at {{ shop.name }}")]},
                  ]},
             ]},
        ],
    },
}

def flow_data(key: str) -> dict[str, Any]:
    """What `create_flow` is given for the built-in `key` (a fresh copy: callers may change
    it)."""
    return copy.deepcopy(BUILTINS[key])


def install(session: Session, shop_id: int) -> list[Flow]:
    """Create the built-ins this shop does not have yet, as drafts; returns those created
    (none the second time). Safe to run concurrently: the database's unique (shop, key)
    decides, and a built-in another transaction created meanwhile is skipped. Does not
    commit."""
    have = set(session.scalars(select(Flow.key).where(
        Flow.shop_id == shop_id, Flow.key.in_(list(BUILTINS)))))
    created = []
    for key in BUILTINS:
        if key in have:
            continue
        try:
            with session.begin_nested():
                created.append(create_flow(session, shop_id, flow_data(key), key=key,
                                           saved_by="Sticky"))
        except IntegrityError:
            log.info("flows.builtin.exists", extra={"shop_id": shop_id, "key": key})
    if created:
        log.info("flows.builtin.installed",
                 extra={"shop_id": shop_id, "keys": [f.key for f in created]})
    return created


def ensure_installed(session: Session, shop_id: int) -> list[Flow]:
    """Every built-in flow of the shop, installing the missing ones first (for the panel's
    flows page: a store connected before the built-ins existed gets them there). Does not
    commit."""
    install(session, shop_id)
    return list(session.scalars(select(Flow).where(
        Flow.shop_id == shop_id, Flow.key.in_(list(BUILTINS))).order_by(Flow.id)))
