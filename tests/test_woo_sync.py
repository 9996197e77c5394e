"""Hand-made keys (CLI), keeping webhooks alive, backfill, reconciliation, the REST client."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import responses
from sqlalchemy import select

from app.crypto import decrypt
from app.db import db
from app.profiles.models import Customer, Order
from app.profiles.service import ProfileStore
from app.shops.clients import woo_client
from app.shops.models import Shop
from app.sync.sources import reconcile_source_for
from app.woocommerce.models import WooWebhook
from app.woocommerce.webhooks import ensure_webhooks
from connectors.http import HttpClient
from connectors.woocommerce.backfill import WooBackfillSource
from connectors.woocommerce.client import WooClient
from connectors.woocommerce.signatures import compute_signature, verify_signature
from connectors.woocommerce.webhooks import TOPICS, delivery_url
from tests.test_woo_support import API, CK, CS, connect_store, customer, order, woo_fixture


def stub_webhook_api(listed: list[dict]) -> list[dict]:
    """GET/POST/DELETE /webhooks; returns the list of created bodies."""
    created: list[dict] = []
    responses.get(f"{API}/webhooks", json=listed,
                  headers={"X-WP-Total": str(len(listed)), "X-WP-TotalPages": "1"})

    def create(request):
        body = json.loads(request.body)
        created.append(body)
        hook = woo_fixture("webhook_create")
        hook.update(id=700 + len(created), topic=body["topic"],
                    delivery_url=body["delivery_url"])
        return 201, {}, json.dumps(hook)

    responses.add_callback(responses.POST, f"{API}/webhooks", callback=create,
                           content_type="application/json")
    return created


def listed_hook(remote_id: str, topic: str, url: str, status: str = "active") -> dict:
    hook = woo_fixture("webhooks_list")[0]
    hook.update(id=int(remote_id), topic=topic, delivery_url=url, status=status)
    return hook


def test_signature_matches_woocommerce_test_vector():
    vector = woo_fixture("signature_vector")
    assert compute_signature(vector["payload"].encode(), vector["secret"]) == vector["signature"]
    body = b'{"id":727}'
    good = compute_signature(body, "s3cret")
    assert verify_signature(body, good, ["other", "s3cret"])
    assert not verify_signature(body + b" ", good, ["s3cret"])
    assert not verify_signature(body, good, [""])  # an empty secret never verifies


@responses.activate
def test_cli_adds_a_store_over_https_with_basic_auth_and_registers_webhooks(app, ctx):
    responses.get(f"{API}/system_status", json=woo_fixture("system_status"))
    created = stub_webhook_api([])

    result = app.test_cli_runner().invoke(args=[
        "shops", "add", "https://store.example/", "--consumer-key", CK,
        "--consumer-secret", CS])

    assert result.exit_code == 0, result.output
    assert "basic auth" in result.output and "8 created" in result.output
    auth = responses.calls[0].request.headers["Authorization"]
    assert auth == "Basic " + base64.b64encode(f"{CK}:{CS}".encode()).decode()
    assert "oauth_signature" not in responses.calls[0].request.url
    shop = db.session.execute(select(Shop)).scalar_one()
    assert (shop.domain, shop.currency, shop.status) == ("store.example", "USD", "active")
    assert decrypt(shop.consumer_secret_encrypted) == CS
    assert sorted(c["topic"] for c in created) == sorted(TOPICS)


@responses.activate
def test_cli_adds_a_plain_http_store_with_oauth_signatures(app, ctx):
    dev_api = "http://localhost:8080/wp-json/wc/v3"
    responses.get(f"{dev_api}/system_status", json=woo_fixture("system_status"))
    responses.get(f"{dev_api}/webhooks", json=[], headers={"X-WP-TotalPages": "0"})
    responses.post(f"{dev_api}/webhooks", json=woo_fixture("webhook_create"), status=201)

    result = app.test_cli_runner().invoke(args=[
        "shops", "add", "http://localhost:8080", "--consumer-key", CK, "--consumer-secret", CS])

    assert result.exit_code == 0, result.output
    assert "OAuth 1.0a" in result.output
    first = responses.calls[0].request
    query = parse_qs(urlsplit(first.url).query)
    assert query["oauth_consumer_key"] == [CK]
    assert query["oauth_signature_method"] == ["HMAC-SHA256"]
    assert query["oauth_signature"][0]
    assert "Authorization" not in first.headers
    assert CS not in first.url  # the secret signs; it is never sent


@responses.activate
def test_cli_reports_rejected_keys_and_stores_nothing(app, ctx):
    responses.get(f"{API}/system_status", status=401, json={
        "code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources.",
        "data": {"status": 401}})
    result = app.test_cli_runner().invoke(args=[
        "shops", "add", "https://store.example", "--consumer-key", CK, "--consumer-secret", "x"])
    assert result.exit_code == 2
    assert "refused the keys" in result.output
    assert db.session.execute(select(Shop)).first() is None


def test_cli_requires_both_woo_keys(app, ctx):
    result = app.test_cli_runner().invoke(args=[
        "shops", "add", "https://store.example", "--consumer-key", CK])
    assert result.exit_code == 2
    assert "--consumer-secret" in result.output


@responses.activate
def test_disabled_and_missing_webhooks_are_recreated(ctx, session):
    shop = connect_store(session)
    url = delivery_url("https://sticky.test", shop.id)
    rows = {r.topic: r for r in session.execute(select(WooWebhook)).scalars()}
    listed = [listed_hook(r.remote_id, r.topic, url) for r in rows.values()
              if r.topic != "customer.deleted"]  # missing on the store
    for hook in listed:
        if hook["topic"] == "order.updated":
            hook["status"] = "disabled"  # WooCommerce gave up after 5 failures
    created = stub_webhook_api(listed)
    responses.delete(f"{API}/webhooks/{rows['order.updated'].remote_id}", json={})
    old_secret = decrypt(rows["order.updated"].secret_encrypted)

    result = ensure_webhooks(session, shop, woo_client(shop), "https://sticky.test")

    assert sorted(result.recreated) == ["customer.deleted", "order.updated"]
    assert sorted(c["topic"] for c in created) == ["customer.deleted", "order.updated"]
    session.expire_all()
    row = session.execute(select(WooWebhook).where(WooWebhook.topic == "order.updated")
                          ).scalar_one()
    assert row.remote_id != "501" and decrypt(row.secret_encrypted) != old_secret
    assert any(c.request.method == "DELETE" for c in responses.calls)
    assert len(result.kept) == len(TOPICS) - 2


@responses.activate
def test_backfill_pages_customers_then_orders_and_resumes(ctx, session):
    shop = connect_store(session)
    customers = [customer(customer_id=n, email=f"c{n}@example.com") for n in (1, 2, 3)]
    orders = [order(customer_id=n, email=f"c{n}@example.com", total="10.00") for n in (1, 2)]

    def collection(items):
        def reply(request):
            query = parse_qs(urlsplit(request.url).query)
            page, per_page = int(query["page"][0]), int(query["per_page"][0])
            chunk = items[(page - 1) * per_page: page * per_page]
            pages = -(-len(items) // per_page)
            return 200, {"X-WP-Total": str(len(items)), "X-WP-TotalPages": str(pages)}, \
                json.dumps(chunk)
        return reply

    responses.add_callback(responses.GET, f"{API}/customers", callback=collection(customers),
                           content_type="application/json")
    responses.add_callback(responses.GET, f"{API}/orders", callback=collection(orders),
                           content_type="application/json")
    import connectors.woocommerce.client as client_module

    client_module.PER_PAGE, saved = 2, client_module.PER_PAGE  # small pages to see paging
    try:
        source = WooBackfillSource(woo_client(shop),
                                   now=datetime(2026, 3, 2, tzinfo=UTC))
        assert source.total() == 5
        pages = list(source.pages(None))
        resumed = list(source.pages("customers:1"))
    finally:
        client_module.PER_PAGE = saved

    assert [(p.cursor, p.units) for p in pages] == [
        ("customers:1", 2), ("customers:2", 1), ("orders:1", 2)]
    assert [p.cursor for p in resumed] == ["customers:2", "orders:1"]
    store = ProfileStore(session, shop.id)
    records = [r for p in pages for r in p.records]
    store.prefetch(records)
    for record in records:
        store.apply(record)
    store.finish()
    session.commit()
    assert session.execute(select(Customer.email).order_by(Customer.email)).scalars().all() == [
        "c1@example.com", "c2@example.com", "c3@example.com"]
    assert len(session.execute(select(Order)).scalars().all()) == 2


@responses.activate
def test_reconciliation_repairs_a_missed_order(ctx, session):
    shop = connect_store(session)
    missed = order(customer_id=25, email="john.doe@example.com", total="70.00", modified=50,
                   refunds=[{"id": 726, "reason": "", "total": "-10.00"}])
    responses.get(f"{API}/orders", match=[responses.matchers.query_param_matcher(
        {"orderby": "id", "order": "asc", "modified_after": "2026-03-01T11:58:00",
         "dates_are_gmt": "true", "status": "any", "per_page": "100", "page": "1"})],
        json=[missed], headers={"X-WP-Total": "1", "X-WP-TotalPages": "1"})
    responses.get(f"{API}/orders", json=[], headers={"X-WP-Total": "0",
                                                     "X-WP-TotalPages": "0"})
    refunds = woo_fixture("refunds_list")[:1]  # refund 726, amount "10.00"
    responses.get(f"{API}/orders/{missed['id']}/refunds", json=refunds,
                  headers={"X-WP-TotalPages": "1"})
    responses.get(f"{API}/customers", json=[customer(customer_id=25, modified=-600)],
                  headers={"X-WP-TotalPages": "1"})

    source = reconcile_source_for(session, shop)
    batches = list(source.changed_since(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)))
    store = ProfileStore(session, shop.id)
    records = [r for batch in batches for r in batch]
    store.prefetch(records)
    for record in records:
        store.apply(record)
    store.finish()
    session.commit()

    stored = session.execute(select(Order)).scalar_one()
    assert stored.platform_order_id == str(missed["id"])
    assert stored.total_refunded == Decimal("10.00")
    profile = session.execute(select(Customer)).scalar_one()
    assert (profile.platform_customer_id, profile.total_spent) == ("25", Decimal("60.00"))


@responses.activate
def test_client_backs_off_on_429_and_5xx(ctx):
    responses.get(f"{API}/system_status", status=429, headers={"Retry-After": "0"})
    responses.get(f"{API}/system_status", status=503)
    responses.get(f"{API}/system_status", json={"settings": {"currency": "USD"}})
    waits: list[float] = []
    client = WooClient("https://store.example", CK, CS, http=HttpClient(sleep=waits.append))
    assert client.get("system_status")["settings"]["currency"] == "USD"
    assert len(waits) == 2
    assert client.http.timeout[1] == 30.0
