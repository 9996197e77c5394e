"""The sending policy's rules, one at a time: consent, suppression, smart sending, quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.db import db
from app.flows import policy
from app.flows.models import MARKETING, SENDING, SENT, SKIPPED, TRANSACTIONAL, Message
from app.profiles.models import NOT_SUBSCRIBED, SUBSCRIBED, UNSUBSCRIBED
from tests.flows.sending_support import NOW, customer

PARIS = ZoneInfo("Europe/Paris")


def test_marketing_mail_needs_a_subscribed_shopper():
    assert policy.consent_refusal(MARKETING, "subscribed", SUBSCRIBED) is None
    assert policy.consent_refusal(MARKETING, "subscribed", NOT_SUBSCRIBED) == \
        "no email marketing consent"
    assert policy.consent_refusal(MARKETING, "subscribed", UNSUBSCRIBED) == "unsubscribed"
    # A marketing flow cannot widen its audience by its send_to.
    assert policy.consent_refusal(MARKETING, "not_unsubscribed", NOT_SUBSCRIBED) is not None


def test_transactional_mail_follows_the_merchants_rule_but_never_reaches_the_unsubscribed():
    assert policy.consent_refusal(TRANSACTIONAL, "not_unsubscribed", NOT_SUBSCRIBED) is None
    assert policy.consent_refusal(TRANSACTIONAL, "not_unsubscribed", UNSUBSCRIBED) == \
        "unsubscribed"
    assert policy.consent_refusal(TRANSACTIONAL, "subscribed", NOT_SUBSCRIBED) is not None
    assert policy.consent_refusal(TRANSACTIONAL, "subscribed", SUBSCRIBED) is None


def test_a_suppressed_address_is_recognised_whatever_its_case(shop):
    # given a hard refusal for an address
    policy.suppress(db.session, shop.id, " Ada@Example.com", "550 no such user", None, NOW)
    policy.suppress(db.session, shop.id, "ada@example.com", "a second reason", None, NOW)
    # then the address, however written, is suppressed, with the first reason
    assert policy.suppression_reason(db.session, shop.id, "ADA@example.com") == \
        "suppressed address: 550 no such user"
    assert policy.suppression_reason(db.session, shop.id, "bob@example.com") is None


def test_suppression_is_per_store(shop, other_shop):
    policy.suppress(db.session, shop.id, "ada@example.com", "550", None, NOW)
    assert policy.suppression_reason(db.session, other_shop.id, "ada@example.com") is None


def _message(shop, cust, *, status, sending_at, category=MARKETING, test=False):
    row = Message(shop_id=shop.id, customer_id=cust.id, category=category, test=test,
                  to_email=cust.email, status=status, sending_at=sending_at, created_at=NOW)
    db.session.add(row)
    db.session.flush()
    return row


def test_smart_sending_counts_marketing_mail_handed_over_in_the_window(shop):
    ada = customer(shop)
    _message(shop, ada, status=SENT, sending_at=NOW - timedelta(hours=15))
    assert policy.smart_sending_refusal(db.session, shop.id, ada.id, 16, NOW) == \
        "smart sending: mailed in the last 16 h"
    # outside the window, or with smart sending switched off, nothing holds it back
    assert policy.smart_sending_refusal(db.session, shop.id, ada.id, 14, NOW) is None
    assert policy.smart_sending_refusal(db.session, shop.id, ada.id, 0, NOW) is None


def test_smart_sending_ignores_transactional_test_and_unsent_messages(shop):
    ada = customer(shop)
    recent = NOW - timedelta(hours=1)
    _message(shop, ada, status=SENT, sending_at=recent, category=TRANSACTIONAL)
    _message(shop, ada, status=SENT, sending_at=recent, test=True)
    _message(shop, ada, status=SKIPPED, sending_at=recent)
    assert policy.smart_sending_refusal(db.session, shop.id, ada.id, 16, NOW) is None
    # a message being handed over counts, except for itself
    own = _message(shop, ada, status=SENDING, sending_at=recent)
    assert policy.smart_sending_refusal(db.session, shop.id, ada.id, 16, NOW,
                                        exclude_pk=own.id) is None
    assert policy.smart_sending_refusal(db.session, shop.id, ada.id, 16, NOW) is not None


def test_quiet_hours_across_midnight_end_the_next_morning_in_the_shops_zone():
    quiet = {"start": "22:00", "end": "08:00"}
    late = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert policy.quiet_until(late, quiet, PARIS) == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    early = datetime(2026, 12, 8, 5, 0, tzinfo=UTC)  # 06:00 in Paris
    assert policy.quiet_until(early, quiet, PARIS) == datetime(2026, 12, 8, 7, 0, tzinfo=UTC)
    day = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    assert policy.quiet_until(day, quiet, PARIS) is None
    # the end itself is no longer quiet
    assert policy.quiet_until(datetime(2026, 12, 8, 7, 0, tzinfo=UTC), quiet, PARIS) is None


def test_quiet_hours_within_a_day_and_none():
    quiet = {"start": "12:00", "end": "14:00"}
    assert policy.quiet_until(datetime(2026, 12, 7, 12, 30, tzinfo=UTC), quiet,
                              ZoneInfo("UTC")) == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert policy.quiet_until(datetime(2026, 12, 7, 11, 59, tzinfo=UTC), quiet,
                              ZoneInfo("UTC")) is None
    assert policy.quiet_until(NOW, None, PARIS) is None


def test_quiet_hours_end_at_the_stated_local_time_across_a_clock_change():
    # Paris goes from UTC+2 to UTC+1 on 25 October 2026 at 03:00 local.
    quiet = {"start": "22:00", "end": "08:00"}
    night = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)  # 23:00 summer time
    assert policy.quiet_until(night, quiet, PARIS) == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
