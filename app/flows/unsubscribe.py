"""Unsubscribing from an email's link: the one-click POST (RFC 8058) and the page's button.

`unsubscribe(session, message_pk, now)` does, for the shopper the message went to:
1. their consent becomes "unsubscribed" through the profile store (a MarketingConsentRecord,
   as a platform's consent webhook would be applied), so EMAIL_MARKETING_CHANGED is published
   and the timeline shows it;
2. every active run of a marketing flow of theirs stops (`app.flows.exits.exit_runs`,
   reason "unsubscribed");
3. the message records `unsubscribed_at` (the flow's "unsubscribed" figure);
4. for a Shopify store, a job (`jobs.email_consent.push_unsubscribe`) tells Shopify, with
   retries, after the commit.

It is idempotent: a second click finds the shopper unsubscribed and changes nothing, and
queues nothing. Transactional mail (order notices a shopper needs) is not consent-based and
is not stopped; suppression is for addresses that bounce, not for this.

It lives with the flows, not in app/email: it works on flows' messages and runs, and
app/email (render, compose, tokens, transport) stays free of them, so the two packages do
not import each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db import after_commit, utcnow
from app.flows.models import Message
from app.profiles.models import UNSUBSCRIBED, Customer
from app.profiles.store import ProfileStore
from app.shops.models import Shop
from app.shops.outbound import outbound_allowed
from connectors.records import MarketingConsentRecord

log = logging.getLogger(__name__)

PUSH_JOB = "jobs.email_consent.push_unsubscribe"
PUSH_RETRY = Retry(max=6, interval=[60, 300, 900, 3600, 3 * 3600, 12 * 3600])


@dataclass(frozen=True)
class Unsubscribed:
    """What the page tells the shopper."""

    shop_name: str
    email: str
    changed: bool  # False: they were unsubscribed already


def store_name(shop: Shop) -> str:
    return shop.name or shop.domain


def message_for(session: Session, message_pk: int) -> Message | None:
    """The message a link names; None for a test send's or a removed message's link."""
    if not isinstance(message_pk, int) or isinstance(message_pk, bool) or message_pk <= 0:
        return None
    return session.get(Message, message_pk)


def unsubscribe(session: Session, message_pk: int, now: datetime | None = None
                ) -> Unsubscribed | None:
    """Unsubscribe the shopper `message_pk` went to (see the module docstring); commits.
    None when the link names no message (the page says the link no longer works)."""
    now = now or utcnow()
    message = message_for(session, message_pk)
    if message is None:
        return None
    shop = session.get(Shop, message.shop_id)
    if shop is None:
        return None
    customer = None
    if message.customer_id is not None:
        customer = session.scalar(
            select(Customer).where(Customer.shop_id == shop.id,
                                   Customer.id == message.customer_id)
            .with_for_update())
    changed = False
    if customer is not None and customer.deleted_at is None \
            and customer.email_marketing != UNSUBSCRIBED:
        _apply_consent(session, shop.id, customer, message.to_email, now)
        changed = True
        if shop.platform == "shopify" and customer.platform_customer_id \
                and outbound_allowed(shop):
            customer_id = customer.id
            after_commit(session, "email.push_unsubscribe", [(shop.id, customer_id)],
                         _enqueue_pushes)
    if customer is not None:
        _exit_marketing_runs(session, shop.id, customer.id, now)
    session.execute(update(Message).where(Message.id == message.id,
                                          Message.unsubscribed_at.is_(None))
                    .values(unsubscribed_at=now))
    email = message.to_email
    session.commit()
    if changed:
        log.info("email.unsubscribed", extra={"shop_id": shop.id, "message_pk": message_pk})
    return Unsubscribed(store_name(shop), email, changed)


def _apply_consent(session: Session, shop_id: int, customer: Customer, to_email: str,
                   now: datetime) -> None:
    # A shopper's click wins over whatever consent time the row holds (a platform clock
    # ahead of ours must not make the profile store take this for a stale copy).
    when = now
    if customer.email_marketing_updated_at and customer.email_marketing_updated_at >= now:
        when = customer.email_marketing_updated_at + timedelta(milliseconds=1)
    record = MarketingConsentRecord(
        customer_platform_id=customer.platform_customer_id,
        email=customer.email or to_email, email_marketing=UNSUBSCRIBED, updated_at=when)
    store = ProfileStore(session, shop_id)
    store.prefetch([record])
    store.apply(record)
    store.finish()
    session.refresh(customer)
    if customer.email_marketing != UNSUBSCRIBED:
        # The record found another profile (a guest's address shared with a registered
        # customer): this shopper is unsubscribed all the same.
        log.warning("email.unsubscribe.applied_directly",
                    extra={"shop_id": shop_id, "customer_id": customer.id})
        customer.email_marketing = UNSUBSCRIBED
        customer.email_marketing_updated_at = when
        session.flush()


def _exit_marketing_runs(session: Session, shop_id: int, customer_id: int,
                         now: datetime) -> None:
    from app.flows.exits import exit_runs

    exit_runs(session, shop_id, customer_id, "unsubscribed", marketing_only=True, now=now)


def _enqueue_pushes(items: list[tuple[int, int]]) -> None:
    from app.queue import get_queue

    for shop_id, customer_id in items:
        try:
            get_queue("default").enqueue(PUSH_JOB, shop_id, customer_id, retry=PUSH_RETRY,
                                         job_timeout=120, result_ttl=86400)
        except RedisError:
            # The consent is saved; Shopify learns it from the next push or sync.
            log.warning("email.unsubscribe.push_not_queued",
                        extra={"shop_id": shop_id, "customer_id": customer_id}, exc_info=True)


class PushLater(Exception):
    """Shopify could not be told now; the job raises this so RQ retries it."""


def push_unsubscribe(session: Session, shop_id: int, customer_id: int) -> str:
    """Tell Shopify the shopper unsubscribed (the job's work). Returns what happened, in a
    word; raises PushLater when Shopify could not be asked."""
    from app.shops.tokens import TokenError, admin_access_token
    from connectors.shopify.consent import (
        ConsentNotUpdated,
        ConsentRefused,
        unsubscribe_email_marketing,
    )

    shop = session.get(Shop, shop_id)
    customer = session.scalar(select(Customer).where(Customer.shop_id == shop_id,
                                                     Customer.id == customer_id))
    if shop is None or customer is None or shop.platform != "shopify":
        return "gone"
    if customer.email_marketing != UNSUBSCRIBED or not customer.platform_customer_id:
        return "not unsubscribed"  # they subscribed again since: nothing to push
    if not outbound_allowed(shop):
        return "local demo store"
    try:
        token = admin_access_token(session, shop)
    except TokenError as exc:
        log.info("email.unsubscribe.push_skipped", extra={"shop_id": shop_id,
                                                          "reason": str(exc)})
        return "no access"
    try:
        unsubscribe_email_marketing(
            shop.domain, token, customer.platform_customer_id,
            api_version=current_app.config["SHOPIFY_API_VERSION"],
            unsubscribed_at=customer.email_marketing_updated_at or utcnow())
    except ConsentRefused as exc:
        log.warning("email.unsubscribe.push_refused",
                    extra={"shop_id": shop_id, "customer_id": customer_id, "reason": str(exc)})
        return "refused"
    except ConsentNotUpdated as exc:
        raise PushLater(str(exc)) from exc
    return "pushed"
