"""The referral link and the friend's claim: the landing page, the friend's single-use code
(one per friend, however they spell their email), and the fraud checks made at the claim."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from app.loyalty.fraud import canonical_email, similar_emails
from app.loyalty.models import Redemption, Referral
from app.loyalty.referrals import referral_url
from app.profiles.models import Customer, Order
from tests.factories import BASE_TIME
from tests.loyalty.referral_support import (
    claim,
    friend_code_of,
    make_advocate,
    referral_for,
    run_referrals,
)


@pytest.fixture
def advocate(shop, session):
    run_referrals(session, shop)
    return make_advocate(session, shop)


def test_the_link_is_stickys_landing_page_for_the_store_and_code(app, shop, advocate):
    with app.test_request_context():
        assert referral_url(shop, advocate[1]) == f"https://sticky.test/r/{shop.id}/{advocate[1]}"


def test_the_landing_page_names_the_advocate_by_first_name_and_the_offer(
        client, shop, session, advocate):
    page = client.get(f"/r/{shop.id}/{advocate[1].lower()}")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert "Ada sent you a gift" in html and "$10.00 off your first order" in html
    assert "Lovelace" not in html and "ada.lovelace" not in html
    assert 'name="email"' in html and "<script" not in html
    assert client.get(f"/r/{shop.id}/NOSUCHCD").status_code == 404
    assert client.get(f"/r/{shop.id + 999}/{advocate[1]}").status_code == 404


def test_a_store_whose_referrals_are_off_shows_no_offer(client, shop, session, advocate):
    run_referrals(session, shop, referrals_enabled=False)
    page = client.get(f"/r/{shop.id}/{advocate[1]}")
    assert page.status_code == 404 and "does not work" in page.get_data(as_text=True)
    assert claim(client, shop, advocate[1], "grace@example.com").status_code == 404
    assert session.scalar(select(func.count()).select_from(Referral)) == 0


def test_the_friend_gets_a_code_and_the_same_one_however_often_they_claim(
        client, shop, session, advocate, shopify_discounts):
    run_referrals(session, shop, referral_friend_minimum_order="25")
    first = claim(client, shop, advocate[1], "Grace.Hopper@gmail.com", first="Grace")
    again = claim(client, shop, advocate[1], "gracehopper+shoes@googlemail.com")

    assert first.status_code == again.status_code == 200
    code = friend_code_of(session, "gracehopper@gmail.com")
    assert code in first.get_data(as_text=True) and code in again.get_data(as_text=True)
    assert "Shop at" in first.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Referral)) == 1
    referral = referral_for(session, "gracehopper@gmail.com")
    assert referral.status == "invited" and referral.advocate_id == advocate[0].id
    assert referral.friend_email == "Grace.Hopper@gmail.com" and referral.ip == "198.51.100.7"
    made = session.get(Redemption, referral.friend_redemption_id)
    assert made.idempotency_key == f"referral:{referral.id}:friend"
    assert made.email == "Grace.Hopper@gmail.com" and made.status == "issued"
    assert made.points == 0 and made.purpose == "referral"
    # the second claim read the code already made: one creation on Shopify
    assert shopify_discounts.creations == 1
    (sent,) = shopify_discounts.discounts_sent()
    assert sent["code"] == code
    assert sent["title"] == f"Referral welcome reward #{referral.id}"
    assert sent["customerGets"]["value"] == {
        "discountAmount": {"amount": "10.00", "appliesOnEachItem": False}}
    assert sent["minimumRequirement"] == {"subtotal": {"greaterThanOrEqualToSubtotal": "25.00"}}
    assert sent["usageLimit"] == 1 and sent["appliesOncePerCustomer"] is True
    assert sent["context"] == {"all": "ALL"}  # no Shopify account yet to make it out to


def test_a_friend_with_a_shopify_account_gets_a_code_made_out_to_it(
        client, shop, session, advocate, shopify_discounts):
    run_referrals(session, shop, referral_friend_kind="percentage", referral_friend_value="15")
    # an account made just now (Shopify gave no creation time): nothing to block
    session.add(Customer(shop_id=shop.id, platform_customer_id="6201000000000077",
                         email="grace@example.com", email_normalized="grace@example.com"))
    session.commit()
    page = claim(client, shop, advocate[1], "grace@example.com")

    assert page.status_code == 200
    (sent,) = shopify_discounts.discounts_sent()
    assert sent["code"] == friend_code_of(session, "grace@example.com")
    assert sent["code"] in page.get_data(as_text=True)
    assert sent["customerGets"]["value"] == {"percentage": 0.15}
    assert sent["minimumRequirement"] is None
    assert sent["context"] == {"customers": {"add": ["gid://shopify/Customer/6201000000000077"]}}
def test_a_code_the_platform_could_not_make_is_made_when_the_friend_tries_again(
        client, shop, session, advocate, shopify_discounts):
    shopify_discounts.down = True
    failed = claim(client, shop, advocate[1], "grace@example.com")
    assert failed.status_code == 503 and "try again" in failed.get_data(as_text=True)
    assert 'id="referral-code"' not in failed.get_data(as_text=True)  # none unconfirmed
    assert referral_for(session, "grace@example.com").friend_redemption_id is None

    shopify_discounts.down = False

    retried = claim(client, shop, advocate[1], "grace@example.com")
    code = friend_code_of(session, "grace@example.com")
    assert retried.status_code == 200 and code in retried.get_data(as_text=True)
    # every attempt asked for the one code under the one key, looking it up before making
    # it again: never two codes
    assert {sent["code"] for sent in shopify_discounts.discounts_sent()} == {code}
    assert shopify_discounts.named("DiscountByCode") == [{"code": code}]
    assert shopify_discounts.creations == 1
    assert session.scalar(select(func.count()).select_from(Redemption)) == 1


def test_an_email_that_is_not_one_is_refused_next_to_the_field(client, shop, session,
                                                               advocate):
    page = claim(client, shop, advocate[1], "grace at example")
    assert page.status_code == 400
    assert "Enter an email address" in page.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Referral)) == 0


def _existing_buyer(session, shop):
    buyer = Customer(shop_id=shop.id, email="grace@example.com",
                     email_normalized="grace@example.com", orders_count=1)
    session.add(buyer)
    session.flush()
    session.add(Order(shop_id=shop.id, customer_id=buyer.id, platform_order_id="450789469",
                      name="#1001", email="grace@example.com", currency="USD",
                      financial_status="paid", placed_at=BASE_TIME))
    session.commit()


def _registered_account(session, shop):
    session.add(Customer(shop_id=shop.id, platform_customer_id="6201000000000077",
                         email="grace@example.com", email_normalized="grace@example.com",
                         platform_created_at=datetime(2026, 2, 1, tzinfo=BASE_TIME.tzinfo)))
    session.commit()


@pytest.mark.parametrize(("email", "first", "last", "setup", "reason"), [
    ("ada.lovelace@gmail.com", "", "", None, "the advocate's own email"),
    ("a.d.a.lovelace+gift@googlemail.com", "", "", None, "the advocate's own email"),
    ("ada.lovelac3@gmail.com", "", "", None, "nearly the same as the advocate's"),
    ("adalovelace1@gmail.com", "", "", None, "nearly the same as the advocate's"),
    ("countess@example.org", "ADA", "Lovelace ", None, "the advocate's name"),
    ("grace@example.com", "", "", _existing_buyer, "they ordered on 2026-03-01"),
    ("grace@example.com", "", "", _registered_account, "had an account since 2026-02-01"),
])
def test_a_suspicious_claim_is_blocked_with_its_reason_and_the_friend_gets_no_code(
        client, shop, session, advocate, shopify_discounts, email, first, last, setup,
        reason):
    if setup:
        setup(session, shop)
    page = claim(client, shop, advocate[1], email, first=first, last=last)
    html = page.get_data(as_text=True)

    assert page.status_code == 200 and "not available for your email address" in html
    assert reason not in html and 'id="referral-code"' not in html
    referral = referral_for(session, email)
    assert referral.status == "blocked" and reason in referral.block_reason
    assert shopify_discounts.requests == []
    # claiming again does not get round it
    assert "not available" in claim(client, shop, advocate[1], email).get_data(as_text=True)
    assert shopify_discounts.requests == []


def test_a_different_friend_is_not_blocked(client, shop, session, advocate,
                                           shopify_discounts):
    for email, first, last in [("ada@gmail.com", "", ""),           # short: 8 edits away
                               ("ada.lovelace@yahoo.com", "", ""),  # another domain
                               ("charles@example.org", "Ada", "Babbage")]:
        page = claim(client, shop, advocate[1], email, first=first, last=last)
        assert friend_code_of(session, email) in page.get_data(as_text=True), email
        assert referral_for(session, email).status == "invited"
    assert shopify_discounts.creations == 3


def test_the_tenth_referral_in_a_week_from_one_ip_address_is_blocked(
        client, shop, session, advocate, shopify_discounts):
    for n in range(9):
        page = claim(client, shop, advocate[1], f"friend{n}@example.net", ip="203.0.113.9")
        assert friend_code_of(session, f"friend{n}@example.net") in page.get_data(as_text=True)
    other_ip = claim(client, shop, advocate[1], "neighbour@example.net", ip="203.0.113.10")
    assert friend_code_of(session, "neighbour@example.net") in other_ip.get_data(as_text=True)

    tenth = claim(client, shop, advocate[1], "friend9@example.net", ip="203.0.113.9")
    assert "not available" in tenth.get_data(as_text=True)
    referral = referral_for(session, "friend9@example.net")
    assert referral.status == "blocked"
    assert "referral number 10 from the IP address 203.0.113.9" in referral.block_reason
    assert shopify_discounts.creations == 10  # none for the blocked tenth


def test_emails_are_compared_as_the_mailbox_they_reach():
    assert canonical_email(" J.Doe+Spring@GoogleMail.com ") == "jdoe@gmail.com"
    assert canonical_email("j.doe+x@example.com") == "j.doe@example.com"
    assert canonical_email("nobody") is None
    assert similar_emails("johnsmith@example.com", "jonsmith2@example.com")
    assert not similar_emails("johnsmith@example.com", "johnsmith@example.org")
    assert not similar_emails("al@example.com", "bo@example.com")  # short: one edit at most
    assert similar_emails("alex@example.com", "alex1@example.com")
