"""The Shopify app proxy: Shopify's published signature vectors, and `/proxy/rewards` refusing
what Shopify did not sign for this store now, for anyone but the signed-in shopper."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode

import pytest

from app.loyalty import redeem as redeem_module
from app.loyalty.proxy import (
    ProxyRefused,
    check_proxy_request,
    proxy_message,
    verify_proxy_signature,
)
from tests.loyalty.widget_helpers import (
    add_reward,
    make_member,
    open_program,
    signed_query,
)

# Shopify's "Authenticate app proxies" page (shopify.dev/docs/apps/build/online-store/
# app-proxies/authenticate-app-proxies), "Calculate a digital signature": the shared secret
# and the two query strings with their signatures, verbatim. The page now prints the shop as
# the placeholder "{shop}.myshopify.com"; the signatures were computed (and the page's earlier
# revision printed) with "shop-name.myshopify.com", which is what reproduces them.
DOC_SECRET = "hush"
DOC_LOGGED_IN = ("extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1"
                 "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
                 "&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb")
DOC_ANONYMOUS = ("extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id="
                 "&path_prefix=%2Fapps%2Fawesome_reviews&timestamp=1317327555"
                 "&signature=e072b6d7e6622d85912a5214b860d3100dc1e73d9bc29f43796ac8c9ff8093cb")
DOC_TIME = 1317327555
JSON = [("format", "json")]  # Shopify signs every parameter, the storefront's own too


def lists(query: str) -> list[tuple[str, list[str]]]:
    """A query as Flask's request.args.lists() gives it: decoded, repeated keys grouped."""
    return list(parse_qs(query, keep_blank_values=True).items())


def test_shopify_documented_vector_for_a_signed_in_customer():
    params = lists(DOC_LOGGED_IN)
    assert proxy_message(params) == ("extra=1,2logged_in_customer_id=1path_prefix=/apps/"
                                     "awesome_reviewsshop=shop-name.myshopify.comtimestamp="
                                     "1317327555")
    assert verify_proxy_signature(params, [DOC_SECRET])
    proxied = check_proxy_request(params, secrets=[DOC_SECRET], now=DOC_TIME)
    assert proxied.customer_id == "1" and proxied.shop_domain == "shop-name.myshopify.com"
    assert proxied.path_prefix == "/apps/awesome_reviews"


def test_shopify_documented_vector_for_an_anonymous_customer():
    params = lists(DOC_ANONYMOUS)
    assert verify_proxy_signature(params, [DOC_SECRET])
    assert check_proxy_request(params, secrets=[DOC_SECRET], now=DOC_TIME).customer_id is None


def test_the_documented_vectors_fail_under_another_secret_or_a_changed_value():
    assert not verify_proxy_signature(lists(DOC_LOGGED_IN), ["not-hush"])
    tampered = DOC_LOGGED_IN.replace("logged_in_customer_id=1", "logged_in_customer_id=2")
    assert not verify_proxy_signature(lists(tampered), [DOC_SECRET])
    # The anonymous signature does not sign a request naming a customer.
    swapped = DOC_LOGGED_IN.rsplit("&signature=", 1)[0] + "&signature=" + \
        DOC_ANONYMOUS.rsplit("=", 1)[1]
    assert not verify_proxy_signature(lists(swapped), [DOC_SECRET])


def test_the_previous_secret_still_verifies_during_a_rotation():
    assert verify_proxy_signature(lists(DOC_LOGGED_IN), ["the-new-secret", DOC_SECRET])
    assert verify_proxy_signature(lists(DOC_LOGGED_IN), [DOC_SECRET, None])


def test_a_documented_request_replayed_later_is_refused_as_stale():
    with pytest.raises(ProxyRefused, match="expired"):
        check_proxy_request(lists(DOC_LOGGED_IN), secrets=[DOC_SECRET],
                            now=DOC_TIME + 301)
    check_proxy_request(lists(DOC_LOGGED_IN), secrets=[DOC_SECRET], now=DOC_TIME + 299)


# --- the route -----------------------------------------------------------------------------


def test_a_signed_in_shopper_gets_their_own_figures_as_json(client, shop, session):
    open_program(session, shop)
    member = make_member(session, shop, "207119551", points=240)
    make_member(session, shop, "207119552", points=9999, first_name="Other")

    response = client.get(f"/proxy/rewards?{signed_query(shop.domain, '207119551', extra=JSON)}")

    assert response.status_code == 200
    body = response.get_json()
    for name in ("points_balance", "tier", "next_tier", "rewards", "referral_url", "history"):
        assert name in body
    assert body["points_balance"] == 240 and body["first_name"] == member.first_name
    assert [e["points"] for e in body["history"]] == [240]


def test_the_page_is_liquid_rendered_in_the_theme_and_runs_no_shopper_text(client, shop,
                                                                           session):
    open_program(session, shop)
    make_member(session, shop, "207119551", points=10,
                first_name="<script>alert(1)</script>{{ customer.email }}")

    response = client.get(f"/proxy/rewards?{signed_query(shop.domain, '207119551')}")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/liquid")
    html = response.get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "{{" not in html and "&#123;&#123; customer.email &#125;&#125;" in html
    assert "<html" not in html  # the theme's layout wraps it
    assert "https://sticky.test/static/sticky/widget.css" in html


def test_a_guest_sees_how_to_join_and_no_figures(client, shop, session):
    open_program(session, shop)
    add_reward(session, shop, "$5 off", 500)

    page = client.get(f"/proxy/rewards?{signed_query(shop.domain, None)}")
    body = client.get(f"/proxy/rewards?{signed_query(shop.domain, None, extra=JSON)}").get_json()

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Join and start earning" in html and 'href="/account/register"' in html
    assert "100 points" in html  # the sign-up bonus
    assert body["guest"] is True and body["points_balance"] is None and body["history"] == []
    assert {w["key"] for w in body["ways_to_earn"]} >= {"signup", "purchase", "birthday"}
    assert "affordable" not in body["rewards"][0]


@pytest.mark.parametrize("case", ["missing", "forged", "other_secret", "added_param"])
def test_an_unsigned_or_forged_request_is_refused(client, shop, session, case):
    make_member(session, shop, "207119551", points=240)
    query = signed_query(shop.domain, "207119551", extra=JSON)
    if case == "missing":
        query = query.rsplit("&signature=", 1)[0]
    elif case == "forged":
        query = query[:-4] + ("0000" if not query.endswith("0000") else "1111")
    elif case == "other_secret":
        query = signed_query(shop.domain, "207119551", secret="someone-elses-secret",
                             extra=JSON)
    else:  # naming another customer next to the signed one
        query += "&" + urlencode({"logged_in_customer_id": "207119552"})

    response = client.get(f"/proxy/rewards?{query}")

    assert response.status_code == 403
    assert response.mimetype == "text/plain" and "240" not in response.get_data(as_text=True)


def test_a_stale_timestamp_is_refused_as_a_replay(client, shop, session):
    make_member(session, shop, "207119551", points=240)
    query = signed_query(shop.domain, "207119551", timestamp=int(time.time()) - 600)

    response = client.get(f"/proxy/rewards?{query}")

    assert response.status_code == 403 and "expired" in response.get_data(as_text=True)


def test_another_shops_domain_or_an_uninstalled_shop_gets_nothing(client, shop, other_shop,
                                                                   session):
    make_member(session, shop, "207119551", points=240)
    unknown = client.get(f"/proxy/rewards?{signed_query('nowhere.myshopify.com', '207119551')}")
    # Signed correctly for the other store: the same platform id there is nobody.
    other = client.get(
        f"/proxy/rewards?{signed_query(other_shop.domain, '207119551', extra=JSON)}")
    shop.status = "uninstalled"
    session.commit()
    uninstalled = client.get(f"/proxy/rewards?{signed_query(shop.domain, '207119551')}")

    assert unknown.status_code == 404 and uninstalled.status_code == 404
    assert other.status_code == 200 and other.get_json()["points_balance"] is None


def test_redeeming_through_the_proxy_acts_for_the_signed_in_shopper_only(client, shop, session,
                                                                         monkeypatch):
    # app.loyalty.redeem.redeem is its own part of the program (platform codes, holds);
    # here it is stood in for, to see what the proxy hands it and shows back.
    open_program(session, shop)
    member = make_member(session, shop, "207119551", points=600)
    reward = add_reward(session, shop, "$5 off", 500)
    calls = []

    def fake_redeem(session, shop_, customer_id, reward_id, *, idempotency_key=None):
        calls.append((shop_.id, customer_id, reward_id, idempotency_key))
        return {"id": 1, "code": "STICKY-AB12CD", "status": "issued", "points": 500,
                "expires_at": None}

    monkeypatch.setattr(redeem_module, "redeem", fake_redeem)
    page = client.get(f"/proxy/rewards?{signed_query(shop.domain, '207119551')}")
    html = page.get_data(as_text=True)
    form_token = html.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    assert 'action="/apps/sticky/rewards/redeem"' in html

    done = client.post(f"/proxy/rewards/redeem?{signed_query(shop.domain, '207119551')}",
                       data={"reward_id": str(reward.id), "form_token": form_token})
    # A form token is bound to the shopper it was made for: another shopper cannot use it.
    make_member(session, shop, "207119552", points=900)
    stolen = client.post(f"/proxy/rewards/redeem?{signed_query(shop.domain, '207119552')}",
                         data={"reward_id": str(reward.id), "form_token": form_token})
    guest = client.post(f"/proxy/rewards/redeem?{signed_query(shop.domain, None, extra=JSON)}",
                        data={"reward_id": str(reward.id), "form_token": form_token})

    assert done.status_code == 200 and "STICKY-AB12CD" in done.get_data(as_text=True)
    assert len(calls) == 1 and calls[0][:3] == (shop.id, member.id, reward.id)
    assert calls[0][3].startswith("widget:")
    assert "out of date" in stolen.get_data(as_text=True)
    assert guest.status_code == 401 and guest.get_json()["result"]["ok"] is False


def test_a_refused_redemption_shows_its_reason(client, shop, session, monkeypatch):
    open_program(session, shop)
    make_member(session, shop, "207119551", points=600)
    reward = add_reward(session, shop, "$5 off", 500)

    def refuse(*args, **kwargs):
        raise redeem_module.RedemptionRefused("You need 100 more points for this reward.")

    monkeypatch.setattr(redeem_module, "redeem", refuse)
    html = client.get(f"/proxy/rewards?{signed_query(shop.domain, '207119551')}").get_data(
        as_text=True)
    form_token = html.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        f"/proxy/rewards/redeem?{signed_query(shop.domain, '207119551', extra=JSON)}",
        data={"reward_id": str(reward.id), "form_token": form_token})

    assert response.status_code == 409
    assert response.get_json()["result"]["message"] == "You need 100 more points for this reward."


def test_a_post_without_the_proxy_signature_changes_nothing(client, shop, session, monkeypatch):
    make_member(session, shop, "207119551", points=600)
    monkeypatch.setattr(redeem_module, "redeem", lambda *a, **k: pytest.fail("redeemed"))
    response = client.post("/proxy/rewards/redeem?shop=sticky-test.myshopify.com"
                           "&logged_in_customer_id=207119551", data={"reward_id": "1"})
    assert response.status_code == 403


def test_the_signature_covers_every_parameter_shopify_sends(client, shop, session):
    make_member(session, shop, "207119551", points=5)
    signed = signed_query(shop.domain, "207119551",
                          extra=[*JSON, ("extra", "1"), ("extra", "2")])
    unsigned_extra = signed_query(shop.domain, "207119551") + "&format=json"

    assert client.get(f"/proxy/rewards?{signed}").status_code == 200
    assert client.get(f"/proxy/rewards?{unsigned_extra}").status_code == 403


def test_a_signed_in_shopper_not_yet_mirrored_is_told_to_wait_not_to_join(client, shop,
                                                                           session):
    open_program(session, shop)
    html = client.get(f"/proxy/rewards?{signed_query(shop.domain, '999')}").get_data(
        as_text=True)
    assert "being set up" in html and "Join and start earning" not in html


def test_a_program_not_open_yet_invites_no_one_to_join(client, shop, session):
    open_program(session, shop, enabled=False)
    html = client.get(f"/proxy/rewards?{signed_query(shop.domain, None)}").get_data(as_text=True)
    assert "not open yet" in html and "Join and start earning" not in html
