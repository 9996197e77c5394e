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
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup
from sqlalchemy import select

from app.db import db
from app.flows import builtins, runner, service
from app.flows.models import LIVE, RUN_ACTIVE, RUN_EXITED, Flow, FlowRun, Message
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


def subscriber(client, app, moment: datetime, **fields) -> dict:
    """Ada, a registered shopper who accepted marketing a day before `moment` (delivered
    as customers/create); returns the customer object later payloads carry."""
    fields.setdefault("email", ADA)
    payload = subscribed_customer(updated=minutes(moment - timedelta(days=1)), **fields)
    deliver(client, "customers/create", payload)
    settle(app)
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
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    # the visible unsubscribe link, in both parts, is the one the header names
    unsubscribe_url = message["List-Unsubscribe"].strip("<>")
    assert f'href="{unsubscribe_url}"' in html and unsubscribe_url in text
    return text, html


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


def tracked_links(client, html: str) -> dict[str, str]:
    """Each click-tracked link of an email's HTML (/t/c/...) → where it leads. Asked with
    HEAD, which the click redirect answers without recording a click."""
    found = {}
    for href in set(re.findall(r'href="(https://sticky\.test/t/c/[^"]+)"', html)):
        response = client.head(urlsplit(href).path)
        assert response.status_code == 302
        found[href] = response.headers["Location"]
    return found


def test_abandoned_checkout_shows_the_items_and_a_tracked_recovery_link(app, client, session,
                                                                         shop, smtp_server):
    # given a store with the abandoned-checkout flow live
    flows = store_with(session, shop, "abandoned_checkout")
    name = shop_name(session, shop)
    start = datetime.now(UTC)
    # when a subscribed shopper starts a checkout (Shopify's sample: two iPod Nanos) and
    # leaves it
    ada = subscriber(client, app, start)
    checkout = checkout_payload(token="tok-e2e-1", cart_token="cart-e2e-1", email=ADA,
                                updated=minutes(start), customer=ada)
    deliver(client, "checkouts/create", checkout)
    deliver(client, "checkouts/update", {**checkout, "updated_at": ts(minutes(start) + 2)})
    settle(app)
    # then nothing is sent during the delay
    sweep_at(app, session, start + timedelta(minutes=30))
    assert smtp_server.messages == []
    # and an hour after it started, the first email goes out
    sweep_at(app, session, start + timedelta(minutes=61))
    [message] = smtp_server.to(ADA)
    assert message["To"] == ADA
    assert message["Subject"] == f"You left something in your cart at {name}"
    text, html = parts(message)
    titles = {line["title"] for line in checkout["line_items"]}
    assert titles == {"IPod Nano - 8GB"}
    for title in titles:
        assert title in html and title in text
    # the recovery link is there, rewritten to a click-tracked link that leads to it
    assert checkout["abandoned_checkout_url"] not in html + text
    assert checkout["abandoned_checkout_url"] in tracked_links(client, html).values()
    [text_link] = [u for u in re.findall(r"https://sticky\.test/t/c/\S+", text)
                   if client.head(urlsplit(u.rstrip(")>]")).path).headers.get("Location")
                   == checkout["abandoned_checkout_url"]]
    [run] = runs_of(session, flows["abandoned_checkout"])
    assert run.status == RUN_ACTIVE and run.step_id == "checkout-2"


def test_abandoned_checkout_sends_nothing_when_the_order_arrives_during_the_delay(
        app, client, session, shop, smtp_server):
    # given a shopper who left a checkout, with the abandoned-checkout flow live
    flows = store_with(session, shop, "abandoned_checkout")
    start = datetime.now(UTC)
    ada = subscriber(client, app, start)
    deliver(client, "checkouts/create", checkout_payload(
        token="tok-e2e-2", cart_token="cart-e2e-2", email=ADA, updated=minutes(start),
        customer=ada))
    settle(app)
    # when orders/create for that checkout arrives 20 minutes later, inside the delay
    deliver(client, "orders/create", order_payload(
        checkout_token="tok-e2e-2", cart_token="cart-e2e-2", email=ADA,
        placed=minutes(start) + 20, updated=minutes(start) + 20, customer=ada))
    settle(app)
    sweep_at(app, session, start + timedelta(minutes=61))
    sweep_at(app, session, start + timedelta(days=2))
    # then the run stopped on the order and no email reached the server
    [run] = runs_of(session, flows["abandoned_checkout"])
    assert run.status == RUN_EXITED and run.exit_reason.startswith("order placed")
    assert smtp_server.messages == []
    assert session.scalars(select(Message).where(Message.status == "sent")).all() == []


def test_post_purchase_thanks_a_shopper_for_their_first_order(app, client, session, shop,
                                                             smtp_server):
    # given a store with the post-purchase flow live, and a subscribed shopper
    store_with(session, shop, "post_purchase")
    name = shop_name(session, shop)
    now = datetime.now(UTC)
    ada = subscriber(client, app, now)
    # when their first order arrives (Shopify's sample order: Aviator sunglasses)
    order = order_payload(customer=ada, email=ADA, placed=minutes(now), updated=minutes(now))
    deliver(client, "orders/create", order)
    settle(app)
    # then the thank-you for a first order arrives, naming the order and what was bought
    [message] = smtp_server.to(ADA)
    assert message["To"] == ADA
    assert message["Subject"] == f"Thank you for your first order ({order['name']})!"
    text, html = parts(message)
    assert "Thank you, Ada!" in html and "Thank you, Ada!" in text
    assert f"Your first order with {name} ({order['name']})" in " ".join(text.split())
    assert order["line_items"][0]["title"] in html
    # and a second order is no first order: no second thank-you
    deliver(client, "orders/create", order_payload(customer=ada, email=ADA,
                                                   placed=minutes(now) + 5,
                                                   updated=minutes(now) + 5))
    settle(app)
    assert len(smtp_server.to(ADA)) == 1


def test_feedback_asks_for_an_nps_score_three_days_after_fulfilment(app, client, session, shop,
                                                                    smtp_server):
    # given a store with the feedback flow live and a subscribed shopper's order
    flows = store_with(session, shop, "feedback")
    name = shop_name(session, shop)
    now = datetime.now(UTC)
    ada = subscriber(client, app, now)
    order = order_payload(customer=ada, email=ADA, placed=minutes(now), updated=minutes(now))
    deliver(client, "orders/create", order)
    settle(app)
    # when the order is fulfilled (orders/fulfilled, the same order now shipped)
    fulfilled = {**order, "fulfillment_status": "fulfilled",
                 "updated_at": ts(minutes(now) + 60)}
    deliver(client, "orders/fulfilled", fulfilled)
    settle(app)
    [run] = runs_of(session, flows["feedback"])
    # then nothing is asked before the parcel has had three days to arrive
    sweep_at(app, session, now + timedelta(days=2))
    assert smtp_server.messages == []
    sweep_at(app, session, now + timedelta(days=3, hours=2))
    [message] = smtp_server.to(ADA)
    assert message["To"] == ADA
    assert message["Subject"] == "How did we do, Ada?"
    text, html = parts(message)
    assert f"How likely are you to recommend {name} to a friend?" in html
    # with one link per score, 0 to 10, each a one-click answer (/t/s/)
    # with one link per score, 0 to 10: click-tracked, each leading to its one-click answer
    links = re.findall(r'<a href="(https://sticky\.test/t/c/[^"]+)"[^>]*>\s*(\d+)\s*</a>', html)
    assert [int(score) for _, score in links] == list(range(11))
    answers = [client.head(urlsplit(url).path).headers["Location"] for url, _ in links]
    assert all(a.startswith("https://sticky.test/t/s/") for a in answers)
    assert len(set(answers)) == 11
    # and one click on 9 records that score for this shopper
    click = client.get(urlsplit(links[9][0]).path)
    assert click.status_code == 302 and click.headers["Location"] == answers[9]
    assert client.get(urlsplit(answers[9]).path).status_code == 200
    from app.flows.models import SurveyResponse

    session.expire_all()
    [answer] = session.scalars(select(SurveyResponse)).all()
    assert answer.score == 9 and answer.customer_id == run.customer_id


def tick(app, session) -> None:
    """`flask --app app tick` (every periodic job once: the flows sweep enters lapsed and
    birthday shoppers and advances due steps), then the worker delivers what it queued."""
    session.close()
    result = CliRunner().invoke(FlaskGroup(create_app=lambda: app), ["tick"])
    assert result.exit_code == 0, result.output
    assert "jobs.flows.sweep_due" in result.output
    run_worker(app)
    db.session.expire_all()


def test_win_back_reminds_a_shopper_lapsed_far_beyond_their_own_interval(app, client, session,
                                                                         shop, smtp_server):
    # given a subscribed shopper who ordered every 30 days, the last time 200 days ago
    flows = store_with(session, shop, "win_back")
    name = shop_name(session, shop)
    now = datetime.now(UTC)
    ada = subscriber(client, app, now - timedelta(days=400))
    for days_ago in (260, 230, 200):
        placed = minutes(now - timedelta(days=days_ago))
        deliver(client, "orders/create", order_payload(customer=ada, email=ADA, placed=placed,
                                                       updated=placed))
    settle(app)
    # and a shopper who ordered 20 days ago, within their usual interval
    grace = subscriber(client, app, now - timedelta(days=400), email="grace@example.com",
                       first_name="Grace")
    for days_ago in (50, 20):
        placed = minutes(now - timedelta(days=days_ago))
        deliver(client, "orders/create", order_payload(customer=grace,
                                                       email="grace@example.com",
                                                       placed=placed, updated=placed))
    settle(app)
    # when the periodic sweep runs
    tick(app, session)
    # then the lapsed shopper entered the win-back, and got the reminder at once
    [run] = runs_of(session, flows["win_back"])
    assert run.status == RUN_ACTIVE and run.trigger_key.startswith("lapsed:")
    [message] = smtp_server.messages
    assert message["To"] == ADA
    assert message["Subject"] == f"We've missed you at {name}"
    text, html = parts(message)
    assert "We've missed you, Ada" in html and "We've missed you, Ada" in text
    assert f"since your last order at {name}" in " ".join(text.split())
    # and the sweep running again sends nothing more before the week's wait is over
    tick(app, session)
    assert len(smtp_server.messages) == 1


@pytest.mark.usefixtures("shopify_discounts")
def test_birthday_sends_a_unique_code_made_on_shopify(app, client, session, shop, smtp_server):
    # given a store with the birthday flow live, and a subscribed member of its rewards
    # program who saved today's date (in the store's zone) as their birthday two months ago
    from app.loyalty import ledger
    from app.loyalty.birthday import set_birthday
    from app.loyalty.models import Redemption
    from app.loyalty.program import save_program
    from app.profiles.models import Customer
    from app.settings.service import read_settings

    flows = store_with(session, shop, "birthday")
    name = shop_name(session, shop)
    now = datetime.now(UTC)
    subscriber(client, app, now - timedelta(days=400))
    save_program(session, shop.id, {"enabled": True})
    session.commit()
    ada_id = session.execute(select(Customer.id).where(Customer.email == ADA)).scalar_one()
    ledger.ensure_member(session, shop.id, ada_id)
    today = now.astimezone(ZoneInfo(read_settings(session, shop).timezone)).date()
    born = date(1988, 2, 29) if (today.month, today.day) == (2, 29) else today.replace(
        year=1990)
    set_birthday(session, shop.id, ada_id, born, now=now - timedelta(days=60))
    session.commit()
    # when the periodic sweep runs
    tick(app, session)
    # then the member gets the birthday email with a code of their own...
    [run] = runs_of(session, flows["birthday"])
    assert run.trigger_key == f"birthday:{today.year}"
    [message] = smtp_server.to(ADA)
    assert message["Subject"] == f"Happy birthday from {name}! 🎁"
    text, html = parts(message)
    assert "Happy birthday, Ada!" in html and "Happy birthday, Ada!" in text
    [code] = session.scalars(select(Redemption).where(Redemption.customer_id == ada_id)).all()
    assert code.idempotency_key == f"flow:{run.id}:code"
    assert code.code in html and code.code in text
    # ... which Shopify made (discountCodeBasicCreate, answered at the network edge)
    assert code.status == "issued" and code.platform_discount_id.startswith(
        "gid://shopify/DiscountCodeNode/")
    # and a second sweep the same day enters no one again
    tick(app, session)
    assert len(runs_of(session, flows["birthday"])) == 1 and len(smtp_server.messages) == 1


def test_loyalty_notices_tell_a_member_the_points_an_order_earned(app, client, session, shop,
                                                                  smtp_server):
    # given a store whose rewards program is on, with the loyalty notices live
    from app.loyalty.models import LedgerEntry
    from app.loyalty.program import save_program

    store_with(session, shop, "loyalty_notices")
    save_program(session, shop.id, {"enabled": True})
    session.commit()
    name = shop_name(session, shop)
    now = datetime.now(UTC)
    # and a shopper who never subscribed to marketing (the notices are transactional)
    ada = customer_payload(email=ADA, updated=minutes(now - timedelta(days=1)))
    assert ada["state"] == "disabled" and "email_marketing_consent" not in ada
    deliver(client, "customers/create", ada)
    settle(app)
    # when they place a paid order of 100.00
    deliver(client, "orders/create", order_payload(customer=ada, email=ADA, total="100.00",
                                                   placed=minutes(now),
                                                   updated=minutes(now)))
    settle(app)
    # then the points-earned notice arrives with what the order earned and the balance
    session.expire_all()
    points = sum(session.scalars(select(LedgerEntry.points)).all())
    assert points > 0
    [message] = smtp_server.to(ADA)
    assert message["To"] == ADA
    assert message["Subject"] == f"You earned points at {name}"
    text, html = parts(message)
    assert f"You earned {points} points" in html and f"You earned {points} points" in text
    assert f"member of {name}'s rewards program" in " ".join(text.split())


def test_opens_clicks_and_the_one_click_unsubscribe_of_a_delivered_email(app, client, session,
                                                                         shop, smtp_server):
    # given a subscriber who got the first welcome email, and who then left a checkout
    flows = store_with(session, shop, "welcome", "abandoned_checkout")
    start = datetime.now(UTC)
    ada = subscribed_customer(email=ADA, updated=minutes(start))
    deliver(client, "customers/create", ada)
    settle(app)
    deliver(client, "checkouts/create", checkout_payload(
        token="tok-e2e-9", email=ADA, updated=minutes(start) + 5, customer=ada))
    settle(app)
    [welcome] = smtp_server.to(ADA)
    text, html = parts(message=welcome)
    [sent] = session.scalars(select(Message).where(Message.status == "sent")).all()
    assert sent.message_id == welcome["Message-ID"]
    assert sent.opened_at is None and sent.clicked_at is None
    # when the mail client loads the open pixel
    [pixel] = re.findall(r'<img[^>]+src="(https://sticky\.test/t/o/[^"]+)"', html)
    response = client.get(urlsplit(pixel).path)
    assert response.status_code == 200 and response.mimetype == "image/gif"
    session.expire_all()
    assert session.get(Message, sent.id).opened_at is not None
    assert session.get(Message, sent.id).clicked_at is None
    # and the shopper clicks the link to the shop
    links = tracked_links(client, html)
    [(link, target)] = [(k, v) for k, v in links.items() if not v.startswith("https://sticky.test/")]
    assert urlsplit(target).hostname == "sticky-test.myshopify.com"
    click = client.get(urlsplit(link).path)
    assert click.status_code == 302 and click.headers["Location"] == target
    session.expire_all()
    assert session.get(Message, sent.id).clicked_at is not None
    # and then unsubscribes with one click, the way a mail client does (RFC 8058)
    unsubscribe_url = welcome["List-Unsubscribe"].strip("<>")
    response = client.post(urlsplit(unsubscribe_url).path, data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    # then both the welcome series and the abandoned checkout stop, saying why
    session.expire_all()
    runs = runs_of(session, flows["welcome"]) + runs_of(session, flows["abandoned_checkout"])
    assert len(runs) == 2
    assert [(r.status, r.exit_reason) for r in runs] == [(RUN_EXITED, "unsubscribed")] * 2
    assert session.get(Message, sent.id).unsubscribed_at is not None
    # and nothing more is sent, whatever comes due later
    settle(app)
    sweep_at(app, session, start + timedelta(minutes=61))
    sweep_at(app, session, start + timedelta(days=4))
    assert len(smtp_server.messages) == 1
