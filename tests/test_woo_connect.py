"""The `/wc-auth/v1/authorize` key handshake and each way it can end."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from sqlalchemy import select, update

from app.crypto import decrypt
from app.db import db, utcnow
from app.queue import get_queue
from app.shops.models import Shop
from app.woocommerce.models import WooConnectRequest, WooWebhook
from connectors.woocommerce.webhooks import TOPICS
from tests.conftest import run_worker
from tests.test_woo_support import API, CK, CS, STORE, woo_fixture


def start(client, store_url: str = STORE) -> str:
    """GET /woocommerce/connect; returns the user_id token sent to the store."""
    response = client.get("/woocommerce/connect", query_string={"store_url": store_url})
    assert response.status_code == 302
    return parse_qs(urlsplit(response.headers["Location"]).query)["user_id"][0]


def callback(client, token: str, **changes):
    body = {"key_id": 1, "user_id": token, "consumer_key": CK, "consumer_secret": CS,
            "key_permissions": "read_write", **changes}
    return client.post("/woocommerce/callback", data=json.dumps(body),
                       content_type="application/json;charset=UTF-8")


def stub_store_api(*, status_code: int = 200) -> None:
    status = woo_fixture("system_status")
    status["settings"]["currency"] = "EUR"
    if status_code == 200:
        responses.get(f"{API}/system_status", json=status)
    else:
        responses.get(f"{API}/system_status", status=status_code, json={
            "code": "woocommerce_rest_authentication_error",
            "message": "Consumer key is invalid.", "data": {"status": status_code}})
    responses.get(f"{API}/webhooks", json=[], headers={"X-WP-Total": "0",
                                                      "X-WP-TotalPages": "0"})
    created = iter(range(900, 999))

    def create(request):
        hook = woo_fixture("webhook_create")
        sent = json.loads(request.body)
        hook.update(id=next(created), topic=sent["topic"], delivery_url=sent["delivery_url"],
                    name=sent["name"])
        return 201, {}, json.dumps(hook)

    responses.add_callback(responses.POST, f"{API}/webhooks", callback=create,
                           content_type="application/json")


def test_connect_redirects_to_the_store_authorize_page(client, ctx):
    response = client.get("/woocommerce/connect",
                          query_string={"store_url": "Store.Example/shop/"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https", "store.example", "/shop/wc-auth/v1/authorize")
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["app_name"] == "Sticky" and query["scope"] == "read_write"
    assert query["callback_url"] == "https://sticky.test/woocommerce/callback"
    assert query["return_url"] == (
        f"https://sticky.test/woocommerce/connected?token={query['user_id']}")
    row = db.session.execute(select(WooConnectRequest)).scalar_one()
    assert (row.token, row.store_url) == (query["user_id"], "https://store.example/shop")


@pytest.mark.parametrize("store_url, reason", [
    ("ftp://store.example", "https://"),
    ("https://admin:pw@store.example", "user name or password"),
    ("https://", "host"),
    ("https://store.example/?p=1", "query"),
])
def test_bad_store_url_shows_the_form_with_the_reason(client, ctx, store_url, reason):
    response = client.get("/woocommerce/connect", query_string={"store_url": store_url})
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert db.session.execute(select(WooConnectRequest)).first() is None


def test_missing_store_url_shows_the_form(client, ctx):
    response = client.get("/woocommerce/connect")
    assert response.status_code == 200
    assert 'name="store_url"' in response.get_data(as_text=True)


def test_plain_http_app_url_refuses_to_start(app, client, ctx):
    app.config.update(APP_URL="http://sticky.test", TESTING=False)
    try:
        response = client.get("/woocommerce/connect", query_string={"store_url": STORE})
    finally:
        app.config.update(APP_URL="https://sticky.test", TESTING=True)
    assert response.status_code == 400
    assert "https://" in response.get_data(as_text=True)


@responses.activate
def test_handshake_stores_keys_confirms_them_and_registers_webhooks(app, client, ctx):
    token = start(client)
    stub_store_api()

    response = callback(client, token)
    assert response.status_code == 200
    shop = db.session.execute(select(Shop)).scalar_one()
    assert (shop.platform, shop.domain, shop.status) == ("woocommerce", "store.example",
                                                          "pending")
    assert shop.consumer_key_encrypted != CK and decrypt(shop.consumer_key_encrypted) == CK
    assert decrypt(shop.consumer_secret_encrypted) == CS
    [job] = get_queue("default").get_jobs()
    assert (job.func_name, list(job.args)) == ("jobs.woocommerce.confirm_connection", [shop.id])

    # Run the queued job here rather than in a forked worker, to see the requests it made.
    db.session.commit()
    job.perform()

    db.session.expire_all()
    shop = db.session.execute(select(Shop)).scalar_one()
    assert (shop.status, shop.currency) == ("active", "EUR")
    hooks = db.session.execute(select(WooWebhook)).scalars().all()
    assert sorted(h.topic for h in hooks) == sorted(TOPICS)
    assert all(h.status == "active" and h.remote_id for h in hooks)
    posted = [json.loads(c.request.body) for c in responses.calls
              if c.request.method == "POST"]
    assert {p["delivery_url"] for p in posted} == {
        f"https://sticky.test/webhooks/woocommerce/{shop.id}"}
    assert len({p["secret"] for p in posted}) == len(TOPICS)
    assert all(p["secret"].isalnum() for p in posted)

    page = client.get("/woocommerce/connected", query_string={
        "token": token, "success": "1", "user_id": token})
    assert page.status_code == 200
    assert "is connected" in page.get_data(as_text=True)


def test_refusal_ends_on_a_declined_page(client, ctx):
    token = start(client)
    page = client.get("/woocommerce/connected", query_string={
        "token": token, "success": "0", "user_id": token})
    assert page.status_code == 200
    assert "declined" in page.get_data(as_text=True)
    # A callback after the refusal is not accepted either.
    assert callback(client, token).status_code == 409
    assert db.session.execute(select(Shop)).first() is None


def test_replayed_callback_is_refused_and_changes_nothing(client, ctx):
    token = start(client)
    assert callback(client, token).status_code == 200
    replay = callback(client, token, consumer_key="ck_attacker", consumer_secret="cs_attacker")
    assert replay.status_code == 409
    assert "already used" in replay.get_json()["message"]
    db.session.expire_all()
    shop = db.session.execute(select(Shop)).scalar_one()
    assert decrypt(shop.consumer_key_encrypted) == CK


def test_unknown_token_is_refused_and_unknown_link_has_a_page(client, ctx):
    response = callback(client, "never-issued")
    assert response.status_code == 404
    assert db.session.execute(select(Shop)).first() is None
    page = client.get("/woocommerce/connected", query_string={"token": "never-issued"})
    assert page.status_code == 404
    assert "Unknown connection link" in page.get_data(as_text=True)


def test_expired_token_is_refused(client, ctx):
    token = start(client)
    db.session.execute(update(WooConnectRequest).values(expires_at=utcnow() - timedelta(1)))
    db.session.commit()
    assert callback(client, token).status_code == 410


def test_callback_without_keys_is_400(client, ctx):
    token = start(client)
    response = callback(client, token, consumer_secret="")
    assert response.status_code == 400
    assert "consumer_secret" in response.get_json()["message"]


@responses.activate
def test_keys_failing_confirmation_end_on_a_clear_page(app, client, ctx):
    token = start(client)
    stub_store_api(status_code=401)
    assert callback(client, token).status_code == 200

    run_worker(app)

    db.session.expire_all()
    shop = db.session.execute(select(Shop)).scalar_one()
    assert shop.status == "pending"
    assert db.session.execute(select(WooWebhook)).first() is None
    page = client.get("/woocommerce/connected", query_string={"token": token, "success": "1"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "did not work" in text and "refused the keys" in text


def test_signed_in_account_is_recorded_on_the_request(client, ctx):
    from app.accounts.service import SESSION_ACCOUNT, SESSION_VERSION, create_account

    account = create_account(db.session, "merchant@example.com", "a long enough passphrase")
    db.session.commit()
    with client.session_transaction() as flask_session:
        flask_session[SESSION_ACCOUNT] = account.id
        flask_session[SESSION_VERSION] = account.session_version
    start(client)
    assert db.session.execute(select(WooConnectRequest.account_id)).scalar_one() == \
        str(account.id)


def test_a_forged_or_signed_out_account_id_is_not_recorded(client, ctx):
    with client.session_transaction() as flask_session:
        flask_session["account_id"] = 42  # no matching account or session version
    start(client)
    assert db.session.execute(select(WooConnectRequest.account_id)).scalar_one() is None
