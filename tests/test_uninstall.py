"""app/uninstalled: credentials cleared and the shop marked uninstalled; reinstalling restores
the same shop row with its data."""

from __future__ import annotations

from sqlalchemy import func, select

from app.crypto import decrypt
from app.db import db
from app.inbox.models import InboxEntry
from app.profiles.models import Customer
from app.queue import get_queue
from app.shops.models import Shop
from app.shops.tokens import TokenError, admin_access_token
from tests.conftest import post_webhook, run_worker, shopify_fixture
from tests.factories import customer_payload
from tests.test_shopify_tokens import expiring_grant, session_token, token_endpoint  # noqa: F401

SHOP = "sticky-test.myshopify.com"


def _stored_shop(shop_id: int) -> Shop:
    with db.new_session() as fresh:
        return fresh.get(Shop, shop_id)


def test_uninstall_clears_credentials_and_marks_the_shop(app, client, shop):
    # given a connected shop with one customer mirrored
    shop_id = shop.id
    post_webhook(client, "customers/create", customer_payload())
    run_worker(app)
    # when Shopify reports the uninstall
    response = post_webhook(client, "app/uninstalled", shopify_fixture("app/uninstalled"))
    assert response.status_code == 200
    entry = db.session.execute(select(InboxEntry).where(
        InboxEntry.topic == "app/uninstalled")).scalar_one()
    assert entry.status == "dispatched"  # not left to the profile drain
    assert [j.func_name for j in get_queue("default").get_jobs()] == [
        "jobs.compliance.handle_lifecycle_delivery"]
    run_worker(app)
    # then
    stored = _stored_shop(shop_id)
    assert stored.status == "uninstalled"
    assert stored.uninstalled_at is not None
    assert stored.access_token_encrypted is None and stored.refresh_token_encrypted is None
    with db.new_session() as fresh:
        with_token_error = None
        try:
            admin_access_token(fresh, fresh.get(Shop, shop_id))
        except TokenError as exc:
            with_token_error = str(exc)
        assert with_token_error and "uninstalled" in with_token_error
        assert fresh.execute(select(func.count()).select_from(Customer)).scalar_one() == 1
        assert fresh.execute(select(InboxEntry.status).where(
            InboxEntry.topic == "app/uninstalled")).scalar_one() == "processed"


def test_reinstall_restores_the_same_shop_and_its_data(app, client, shop,
                                                       token_endpoint):  # noqa: F811
    shop_id = shop.id
    post_webhook(client, "customers/create", customer_payload())
    post_webhook(client, "app/uninstalled", shopify_fixture("app/uninstalled"))
    run_worker(app)
    assert _stored_shop(shop_id).status == "uninstalled"
    endpoint = token_endpoint(lambda body: (200, expiring_grant("shpat_again", "shprt_again")))
    # when the merchant installs again (managed install opens the app with a session token)
    response = client.get(f"/admin?shop={SHOP}&embedded=1&id_token={session_token()}")
    db.session.rollback()
    # then the same row is active again, with new credentials and the old data
    assert response.status_code == 200
    assert len(endpoint.calls) == 1
    stored = _stored_shop(shop_id)
    assert stored.status == "active" and stored.uninstalled_at is None
    assert decrypt(stored.access_token_encrypted) == "shpat_again"
    with db.new_session() as fresh:
        assert fresh.execute(select(func.count()).select_from(Shop)).scalar_one() == 1
        assert fresh.execute(select(func.count()).select_from(Customer)
                             .where(Customer.shop_id == shop_id)).scalar_one() == 1
    assert [(j.func_name, j.args) for j in get_queue("default").get_jobs()] == [
        ("jobs.sync.run_backfill", [shop_id])]


def test_an_uninstall_received_before_a_reinstall_does_not_undo_it(app, client, shop,
                                                                    token_endpoint):  # noqa: F811
    # given the uninstall is stored but its job has not run yet
    shop_id = shop.id
    post_webhook(client, "app/uninstalled", shopify_fixture("app/uninstalled"))
    get_queue("default").empty()
    token_endpoint(lambda body: (200, expiring_grant("shpat_again", "shprt_again")))
    client.get(f"/admin?shop={SHOP}&embedded=1&id_token={session_token()}")
    db.session.rollback()
    from jobs.compliance import handle_lifecycle_delivery

    entry_id = db.session.execute(select(InboxEntry.id).where(
        InboxEntry.topic == "app/uninstalled")).scalar_one()
    db.session.rollback()
    # when the delayed job runs after the reinstall
    result = handle_lifecycle_delivery(entry_id)
    # then the reinstall stands
    assert result["counts"] == {"skipped": "reinstalled since"}
    assert _stored_shop(shop_id).status == "active"


def test_uninstall_with_a_bad_signature_is_401_and_changes_nothing(client, shop):
    response = post_webhook(client, "app/uninstalled", shopify_fixture("app/uninstalled"),
                            secret="wrong-secret")
    assert response.status_code == 401
    assert db.session.execute(select(func.count()).select_from(InboxEntry)).scalar_one() == 0


def test_an_uninstalled_store_s_api_key_reads_nothing(app, client, shop):
    # given a store with an API key, that then uninstalls Sticky
    from app.shops.service import create_api_key

    _row, key = create_api_key(db.session, shop)
    db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/customers", headers=headers).status_code == 200
    post_webhook(client, "app/uninstalled", shopify_fixture("app/uninstalled"))
    run_worker(app)
    # when the key is used again
    response = client.get("/api/customers", headers=headers)
    # then it is refused, saying why
    assert response.status_code == 403
    assert "uninstalled" in response.get_json()["message"]
