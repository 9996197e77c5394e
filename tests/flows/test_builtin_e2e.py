"""Each built-in flow end to end: signed Shopify webhooks in, the real flows subscriber, engine,
sending policy and RQ worker, and the message as the store's mail server (aiosmtpd) received
it — sender, recipient, subject, one-click unsubscribe headers, and the text and HTML parts.
Time is controlled: webhooks carry times around the real clock, and later steps are swept
with an explicit `now`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

from sqlalchemy import select

from app.db import db
from app.flows import builtins, runner, service
from app.flows.models import LIVE, RUN_ACTIVE, RUN_EXITED, Flow, FlowRun, Message
from app.profiles.models import Customer
from app.settings.service import update_settings
from jobs.events import register_subscribers
from tests.conftest import run_worker
from tests.factories import checkout_payload, customer_payload, order_payload, ts
from tests.flows.engine_support import deliver, minutes, settle
from tests.loyalty.referral_support import shopify_discounts  # noqa: F401 - a fixture

SENDER = "hello@sticky-test.example"
ADA = "ada@example.com"


def store_with(session, shop, *keys: str) -> dict[str, Flow]:
    """The shop's built-ins installed (drafts), `keys` of them live, and a sender set."""
    register_subscribers()
    builtins.install(session, shop.id)
    flows = {f.key: f for f in session.scalars(select(Flow).where(Flow.shop_id == shop.id))}
    for key in keys:
        service.set_status(session, flows[key], LIVE)
    session.commit()
    update_settings(session, shop, {"sender_email": SENDER, "sender_name": "Sticky Test"})
    session.commit()
    return flows


def sweep_at(app, session, moment: datetime) -> None:
    """The due steps as of `moment`, then the worker delivers what they queued."""
    session.close()
    runner.sweep(db.session, moment)
    db.session.commit()
    db.session.close()
    run_worker(app)
    db.session.expire_all()


def subscribed_customer(**fields) -> dict:
    """A customers/create payload of a shopper who accepted marketing (Shopify's
    `email_marketing_consent` object)."""
    payload = customer_payload(**fields)
    payload["email_marketing_consent"] = {"state": "subscribed",
                                          "opt_in_level": "single_opt_in",
                                          "consent_updated_at": payload["created_at"]}
    return payload


def parts(message: EmailMessage) -> tuple[str, str]:
    """(text, html) of a flow email, checking its structure and one-click headers."""
    assert message.get_content_type() == "multipart/alternative"
    kinds = [p.get_content_type() for p in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert SENDER in message["From"] and "Sticky Test" in message["From"]
    assert re.fullmatch(r"<https://sticky\.test/unsubscribe/[^>]+>",
                        message["List-Unsubscribe"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return (message.get_body(("plain",)).get_content(),
            message.get_body(("html",)).get_content())


def shop_name(session, shop) -> str:
    from app.flows.unsubscribe import store_name

    return store_name(shop)


def runs_of(session, flow: Flow) -> list[FlowRun]:
    session.expire_all()
    return list(session.scalars(select(FlowRun).where(FlowRun.flow_id == flow.id)
                                .order_by(FlowRun.id)))


def test_welcome_greets_a_new_subscriber_by_the_stores_name(app, client, session, shop,
                                                            smtp_server):
    # given a store with the welcome series live
    store_with(session, shop, "welcome")
    name = shop_name(session, shop)
    # when a shopper who accepted marketing signs up
    now = datetime.now(UTC)
    deliver(client, "customers/create", subscribed_customer(email=ADA, updated=minutes(now)))
    settle(app)
    # then the first welcome email arrives, from the store's sender
    [message] = smtp_server.to(ADA)
    assert message["To"] == ADA
    assert message["Subject"] == f"Welcome to {name}, Ada!"
    text, html = parts(message)
    assert name in html and name in text
