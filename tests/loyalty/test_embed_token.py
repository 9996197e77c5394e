"""The WooCommerce embed: a token the companion plugin mints for the signed-in WordPress user.
A forged, expired or other-store token, and another shopper's id, all get nothing."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from app.loyalty.embed import EmbedRefused, mint_token, verify_token
from tests.loyalty.widget_helpers import (
    OTHER_SECRET,
    SECRET,
    add_reward,
    make_member,
    open_program,
    woo_store,
)

PLUGIN = (Path(__file__).resolve().parents[2] / "connectors" / "woocommerce" / "plugin"
          / "sticky-for-woocommerce")
@pytest.fixture
def store(ctx, session):
    return woo_store(session, "hats.example", SECRET)


@pytest.fixture
def member(store, session):
    open_program(session, store)
    return make_member(session, store, "42", first_name="Wren", points=320)


def tampered(token: str, **claims) -> str:
    version, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(claims)
    new = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    return f"{version}.{new}.{signature}"


def test_a_valid_token_shows_the_customers_own_rewards(client, store, member, session):
    add_reward(session, store, "€5 off", 300)
    response = client.get(f"/embed/rewards?token={mint_token(SECRET, store.id, '42')}")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hi Wren" in html and 'data-sr="points-balance">320<' in html
    assert "Earned: Order #1001" in html and "Redeem" in html
    assert response.headers["Content-Security-Policy"] == "frame-ancestors https://hats.example"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_json_of_a_valid_token_has_the_fixed_names(client, store, member):
    token = mint_token(SECRET, store.id, "42")
    body = client.get(f"/embed/rewards?format=json&token={token}").get_json()
    assert {"points_balance", "tier", "next_tier", "rewards", "referral_url",
            "history"} <= set(body)
    assert body["points_balance"] == 320


@pytest.mark.parametrize("case", ["forged", "expired", "other_store", "other_shopper",
                                  "unknown_store", "garbage", "missing", "long_lived"])
def test_a_bad_token_gets_nothing(client, store, member, session, case):
    other = woo_store(session, "socks.example", OTHER_SECRET)
    make_member(session, other, "42", first_name="Sock", points=777)
    make_member(session, store, "43", first_name="Someone", points=555)
    token = {
        "forged": lambda: mint_token("a-guessed-secret", store.id, "42"),
        "expired": lambda: mint_token(SECRET, store.id, "42", now=time.time() - 3600),
        # Minted by the other store's plugin, then pointed at this store.
        "other_store": lambda: tampered(mint_token(OTHER_SECRET, other.id, "42"),
                                        store=store.id),
        # A valid token for user 42, edited to name user 43.
        "other_shopper": lambda: tampered(mint_token(SECRET, store.id, "42"), user="43"),
        "unknown_store": lambda: mint_token(SECRET, store.id + 1000, "42"),
        "garbage": lambda: "v1.not-base64!.zz",
        "missing": lambda: "",
        "long_lived": lambda: mint_token(SECRET, store.id, "42", ttl=7 * 24 * 3600),
    }[case]()

    page = client.get(f"/embed/rewards?token={token}")
    data = client.get(f"/embed/rewards?format=json&token={token}")

    html = page.get_data(as_text=True)
    assert page.status_code == 403 and data.status_code == 403
    for figure in ("320", "555", "777", "Wren", "Someone", "Sock", "Order #1001"):
        assert figure not in html and figure not in data.get_data(as_text=True)
    with pytest.raises(EmbedRefused):
        verify_token(session, token)


def test_the_token_is_checked_with_the_secret_of_the_store_it_names(store, other_shop, session):
    other = woo_store(session, "socks.example", OTHER_SECRET)
    assert verify_token(session, mint_token(OTHER_SECRET, other.id, "7")).shop.id == other.id
    assert verify_token(session, mint_token(SECRET, store.id, "7")).user_id == "7"
    with pytest.raises(EmbedRefused):  # a Shopify store has no embed
        verify_token(session, mint_token(SECRET, other_shop.id, "7"))


def test_a_disconnected_store_shows_nothing(client, store, member, session):
    store.status = "uninstalled"
    session.commit()
    response = client.get(f"/embed/rewards?token={mint_token(SECRET, store.id, '42')}")
    assert response.status_code == 403 and "320" not in response.get_data(as_text=True)


def test_redeem_from_the_embed_posts_back_with_the_same_token(client, store, member, session,
                                                              monkeypatch):
    from app.loyalty import redeem as redeem_module

    reward = add_reward(session, store, "€5 off", 300)
    calls = []
    monkeypatch.setattr(redeem_module, "redeem", lambda s, shop, customer_id, reward_id, **k:
                        calls.append((shop.id, customer_id, reward_id))
                        or {"id": 9, "code": "WREN-5OFF", "status": "issued", "points": 300})
    token = mint_token(SECRET, store.id, "42")
    html = client.get(f"/embed/rewards?token={token}").get_data(as_text=True)
    form_token = html.split('name="form_token" value="', 1)[1].split('"', 1)[0]

    done = client.post("/embed/rewards/redeem", data={"token": token, "form_token": form_token,
                                                      "reward_id": str(reward.id)})
    expired = client.post("/embed/rewards/redeem", data={
        "token": mint_token(SECRET, store.id, "42", now=time.time() - 3600),
        "form_token": form_token, "reward_id": str(reward.id)})

    assert done.status_code == 200 and 'value="WREN-5OFF"' in done.get_data(as_text=True)
    assert calls == [(store.id, member.id, reward.id)]
    assert expired.status_code == 403


def test_the_birthday_form_calls_the_birthday_rule_and_shows_its_refusal(client, store, member,
                                                                         monkeypatch):
    from app.loyalty import birthday

    def refuse(session, shop_id, customer_id, day):
        assert customer_id == member.id
        raise birthday.BirthdayRefused("Your birthday can be changed once a year.")

    monkeypatch.setattr(birthday, "set_birthday", refuse)
    token = mint_token(SECRET, store.id, "42")
    html = client.get(f"/embed/rewards?token={token}").get_data(as_text=True)
    form_token = html.split('name="form_token" value="', 1)[1].split('"', 1)[0]

    bad_date = client.post("/embed/rewards/birthday", data={
        "token": token, "form_token": form_token, "birthday": "21/04/1990"})
    refused = client.post("/embed/rewards/birthday", data={
        "token": token, "form_token": form_token, "birthday": "1990-04-21"})

    assert bad_date.status_code == 400 and "as a date" in bad_date.get_data(as_text=True)
    assert refused.status_code == 400
    assert "changed once a year" in refused.get_data(as_text=True)


@pytest.mark.skipif(shutil.which("php") is None, reason="php is not on PATH (apt-get install "
                                                        "php-cli); .ci/run installs it")
def test_a_token_minted_by_the_plugin_is_accepted_by_sticky(store, member, session):
    script = ("define('ABSPATH', '/');"
              f"require {json.dumps(str(PLUGIN / 'includes' / 'class-sticky-embed-token.php'))};"
              f"echo Sticky_Embed_Token::mint({json.dumps(SECRET)}, {store.id}, 42, time());")
    result = subprocess.run(["php", "-r", script], capture_output=True, text=True, timeout=60,
                            check=True)
    token = result.stdout.strip()
    identity = verify_token(session, token)
    assert identity.shop.id == store.id and identity.user_id == "42"
    with pytest.raises(EmbedRefused):
        verify_token(session, token[:-1] + ("1" if token.endswith("0") else "0"))
