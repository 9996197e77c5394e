"""History backfill through Shopify Bulk Operations and the neutral runner.

Real database and Redis; Shopify is stubbed only at the HTTP edge (`responses`), answering
with the documented GraphQL shapes (tests/fixtures/shopify/graphql) and serving bulk JSONL
files shaped like Shopify's output (tests/fixtures/shopify/bulk).
"""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from sqlalchemy import func, select

from app.db import db
from app.profiles.models import Customer, Order, OrderLine, Refund, TimelineEvent
from app.shops.service import create_api_key
from app.sync.backfill import BackfillError, latest_run, run_backfill
from app.sync.models import BackfillRun
from app.sync.sources import backfill_source_for
from connectors.shopify.bulk import BULK_PARENT_KEY
from tests.conftest import post_webhook
from tests.factories import customer_payload, order_payload

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
DOMAIN = "sticky-test.myshopify.com"
API_VERSION = "2026-10"
TOTAL_UNITS = 7  # 3 customers + 4 orders in the bulk fixtures
def graphql_fixture(name: str) -> dict:
    return json.loads((FIXTURES / "graphql" / f"{name}.json").read_text())


class BreakingReader(io.BufferedReader):
    """A response body that delivers `break_at` bytes and then loses the connection."""

    def __init__(self, data: bytes, break_at: int) -> None:
        super().__init__(io.BytesIO(data))
        self.remaining = break_at

    def read(self, size: int | None = -1) -> bytes:
        if self.remaining <= 0:
            raise ConnectionResetError("connection reset by peer")
        size = self.remaining if size is None or size < 0 else min(size, self.remaining)
        chunk = super().read(size)
        self.remaining -= len(chunk)
        return chunk

    read1 = read


class ShopifyBulkStub:
    """Bulk queries for customers and orders: each is RUNNING once, then COMPLETED."""

    def __init__(self, rsps: responses.RequestsMock, domain: str, *,
                 files: dict[str, Path] | None = None, polls_running: int = 1) -> None:
        self.rsps = rsps
        self.endpoint = f"https://{domain}/admin/api/{API_VERSION}/graphql.json"
        self.files = files or {"customers": FIXTURES / "bulk" / "customers.jsonl",
                               "orders": FIXTURES / "bulk" / "orders.jsonl"}
        self.polls_running = polls_running
        self.polls: dict[str, int] = {}
        self.started: list[str] = []
        self.downloads: list[str] = []
        self.counts = graphql_fixture("counts")
        rsps.add_callback(responses.POST, self.endpoint, callback=self._graphql)

    @staticmethod
    def op_id(stage: str, n: int = 1) -> str:
        return f"gid://shopify/BulkOperation/{ {'customers': 100, 'orders': 200}[stage] + n}"

    def url(self, stage: str) -> str:
        return f"https://storage.googleapis.com/bulk-operation-outputs/{stage}.jsonl?Signature=x"

    def serve(self, stage: str, body=None) -> None:
        """Register one download of `stage`'s file (a body, or the whole file)."""
        def callback(request):
            self.downloads.append(stage)
            return (200, {"Content-Type": "application/jsonl"},
                    body if body is not None else self.files[stage].read_bytes())

        self.rsps.add_callback(responses.GET, self.url(stage), callback=callback)

    def _stage_of(self, op_id: str) -> str:
        return "customers" if op_id.rsplit("/", 1)[-1].startswith("1") else "orders"

    def _graphql(self, request):
        body = json.loads(request.body)
        query, variables = body["query"], body.get("variables") or {}
        if "bulkOperationRunQuery" in query:
            stage = "customers" if "customers {" in variables["query"] else "orders"
            self.started.append(stage)
            answer = graphql_fixture("bulk_run_created")
            answer["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"] = self.op_id(stage)
            return 200, {}, json.dumps(answer)
        if "BulkOperation" in query:
            op_id = variables["id"]
            stage = self._stage_of(op_id)
            self.polls[op_id] = self.polls.get(op_id, 0) + 1
            name = ("bulk_operation_running" if self.polls[op_id] <= self.polls_running
                    else "bulk_operation_completed")
            answer = graphql_fixture(name)
            answer["data"]["node"]["id"] = op_id
            if answer["data"]["node"]["url"]:
                answer["data"]["node"]["url"] = self.url(stage)
            return 200, {}, json.dumps(answer)
        if "customersCount" in query:
            return 200, {}, json.dumps(copy.deepcopy(self.counts))
        raise AssertionError(f"unexpected query: {query[:80]}")


@pytest.fixture
def fast_sync(app, monkeypatch):
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_POLL_SECONDS", 0)
    monkeypatch.setitem(app.config, "BACKFILL_PAGE_SIZE", 2)


@pytest.fixture
def shopify():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield ShopifyBulkStub(rsps, DOMAIN)


def count(model, shop) -> int:
    return db.session.execute(
        select(func.count()).select_from(model).where(model.shop_id == shop.id)).scalar_one()


def lines_by_order(shop) -> dict[str, list[tuple[str, int, Decimal]]]:
    rows = db.session.execute(
        select(Order.platform_order_id, OrderLine.title, OrderLine.quantity, OrderLine.price)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.shop_id == shop.id).order_by(OrderLine.platform_line_id)
    ).all()
    joined: dict[str, list[tuple[str, int, Decimal]]] = {}
    for order_id, title, quantity, price in rows:
        joined.setdefault(order_id, []).append((title, quantity, price))
    return joined


def customer(shop, platform_id: str) -> Customer:
    db.session.expire_all()
    return db.session.execute(select(Customer).where(
        Customer.shop_id == shop.id, Customer.platform_customer_id == platform_id)).scalar_one()


def order(shop, platform_id: str) -> Order:
    db.session.expire_all()
    return db.session.execute(select(Order).where(
        Order.shop_id == shop.id, Order.platform_order_id == platform_id)).scalar_one()


def test_backfill_job_imports_customers_orders_and_joined_line_items(shop, shopify, fast_sync):
    # given: Shopify's bulk files for customers and orders (with line items as child rows)
    shopify.serve("customers")
    shopify.serve("orders")
    from jobs.sync import run_backfill as run_backfill_job

    # when: the install-time job runs
    result = run_backfill_job(shop.id)

    # then: every customer, order and line, with the figures of the file
    assert result["status"] == "completed"
    assert shopify.started == ["customers", "orders"]
    assert count(Customer, shop) == 4  # 3 registered + the guest of order 9003
    assert count(Order, shop) == 4
    assert count(OrderLine, shop) == 7
    assert lines_by_order(shop) == {
        "9001": [("Analytical Engine", 1, Decimal("80.00")), ("Punch Cards", 4, Decimal("5.00"))],
        "9002": [("Compiler Manual", 1, Decimal("50.00"))],
        "9003": [("Sticker", 2, Decimal("5.00")), ("Mug", 1, Decimal("12.00")),
                 ("Pen", 1, Decimal("8.00"))],
        "9004": [("Difference Engine Model", 1, Decimal("40.00"))],
    }
    first = order(shop, "9001")
    assert (first.total_price, first.subtotal, first.total_tax, first.total_shipping) == (
        Decimal("120.00"), Decimal("100.00"), Decimal("10.00"), Decimal("10.00"))
    assert (first.financial_status, first.fulfillment_status) == ("paid", "fulfilled")
    assert first.discount_codes == ["WELCOME10"]
    assert order(shop, "9003").fulfillment_status == "partial"
    assert count(Refund, shop) == 1

    ada = customer(shop, "7001")
    assert (ada.email, ada.first_name, ada.city, ada.country_code, ada.tags) == (
        "ada@example.com", "Ada", "London", "GB", "vip, newsletter")
    assert (ada.email_marketing, ada.account_state) == ("subscribed", "enabled")
    assert (ada.orders_count, ada.total_spent) == (1, Decimal("120.00"))  # 9004 is voided
    grace = customer(shop, "7002")
    assert (grace.orders_count, grace.total_spent) == (1, Decimal("35.50"))  # 55.50 - 20 refund
    assert customer(shop, "7003").email_marketing == "unsubscribed"
    guest = db.session.execute(select(Customer).where(
        Customer.shop_id == shop.id, Customer.email_normalized == "guest@example.com")).scalar_one()
    assert (guest.platform_customer_id, guest.orders_count) == (None, 1)

    run = latest_run(db.session, shop.id)
    assert (run.status, run.processed, run.total) == ("completed", TOTAL_UNITS, TOTAL_UNITS)
    assert run.bulk_operation_id == ShopifyBulkStub.op_id("orders")
    assert db.session.get(type(shop), shop.id).last_synced_at == run.started_at


@pytest.fixture
def published(monkeypatch):
    """Every domain event published (appended to the event log), of every kind."""
    from app import events

    seen: list = []
    publish = events.publish

    def recording(session, batch):
        seen.extend(batch)
        publish(session, batch)

    monkeypatch.setattr(events, "publish", recording)
    return seen


def timeline(shop) -> list[tuple[str, str]]:
    db.session.expire_all()
    return sorted(db.session.execute(
        select(TimelineEvent.kind, TimelineEvent.ref).where(TimelineEvent.shop_id == shop.id)
    ).all())


HISTORY = [  # the fixtures' facts: 3 profiles, a guest, 4 orders and a refund
    ("customer_created", "7001"), ("customer_created", "7002"), ("customer_created", "7003"),
    ("customer_created", "guest:guest@example.com"),
    ("order_cancelled", "9004"), ("order_fulfilled", "9001"),
    ("order_paid", "9001"), ("order_paid", "9002"), ("order_paid", "9003"),
    ("order_placed", "9001"), ("order_placed", "9002"), ("order_placed", "9003"),
    ("order_placed", "9004"), ("refund_created", "gid://shopify/Refund/9201"),
]


def test_a_backfill_records_the_stores_past_without_publishing_it(shop, shopify, fast_sync,
                                                                  published):
    """History (before the install) goes on the timeline but awards no points and sends no
    emails: no domain event is published for it."""
    shopify.serve("customers")
    shopify.serve("orders")

    run_backfill(db.session, shop.id)

    assert [kind for kind, _ in timeline(shop)] == sorted(kind for kind, _ in HISTORY)
    assert published == []


def test_facts_after_the_install_are_published_by_the_backfill(shop, shopify, fast_sync,
                                                               published):
    """A store installed before the fixtures' dates: every fact is news, and the backfill
    publishes each once (a webhook it raced would have found them recorded)."""
    from datetime import UTC, datetime

    db.session.get(type(shop), shop.id).installed_at = datetime(2024, 1, 1, tzinfo=UTC)
    db.session.commit()
    shopify.serve("customers")
    shopify.serve("orders")

    run_backfill(db.session, shop.id)

    assert sorted((e.kind, e.ref) for e in published) == timeline(shop)
    assert len(timeline(shop)) == len(HISTORY)


def test_api_backfill_reports_none_then_the_finished_run(ctx, client, shop, shopify, fast_sync):
    # given
    _, key = create_api_key(db.session, shop)
    db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/backfill", headers=headers).get_json() == {
        "status": "none", "processed": 0, "total": None, "started_at": None,
        "finished_at": None, "error": None}
    shopify.serve("customers")
    shopify.serve("orders")
    # when
    run_backfill(db.session, shop.id)
    # then
    body = client.get("/api/backfill", headers=headers).get_json()
    assert (body["status"], body["processed"], body["total"], body["error"]) == (
        "completed", TOTAL_UNITS, TOTAL_UNITS, None)
    assert body["started_at"].endswith("Z") and body["finished_at"].endswith("Z")
    assert "/api/backfill" in client.get("/api/openapi.json", headers=headers).get_json()["paths"]
    assert client.get("/api/backfill").status_code == 401


def test_a_download_broken_mid_file_resumes_after_the_last_applied_page(shop, shopify,
                                                                         fast_sync, app,
                                                                         monkeypatch):
    # given: the orders file breaks off inside order 9003 (its line items are not all there);
    # small network reads, so the lines before the break arrive before the connection drops
    monkeypatch.setattr("connectors.shopify.bulk.DOWNLOAD_CHUNK_BYTES", 64)
    app.config["BACKFILL_PAGE_SIZE"] = 1
    data = (FIXTURES / "bulk" / "orders.jsonl").read_bytes()
    break_at = len(b"".join(data.splitlines(keepends=True)[:6])) + 10
    shopify.serve("customers")
    shopify.serve("orders", body=BreakingReader(data, break_at))
    shopify.serve("orders")
    # when: the first run stops with the connection
    with pytest.raises(Exception, match="broke off"):
        run_backfill(db.session, shop.id)
    # then: what it committed is whole, and recorded
    failed = latest_run(db.session, shop.id)
    assert failed.status == "failed" and "broke off" in failed.error
    assert failed.processed == 3 + 2  # customers, then orders 9001 and 9002
    assert json.loads(failed.cursor) == {"stage": "orders", "line": 5,
                                         "operation": ShopifyBulkStub.op_id("orders")}
    assert count(Order, shop) == 2 and count(OrderLine, shop) == 3
    kept_id = order(shop, "9001").id

    # when: it runs again
    applied: list[int] = []
    run = run_backfill(db.session, shop.id, on_progress=lambda r, page: applied.append(page.units))
    # then: it reused the finished bulk operation, read on from line 5, and doubled nothing
    assert run.id == failed.id and run.status == "completed"
    assert shopify.started == ["customers", "orders"]
    assert sum(applied) == 2  # orders 9003 and 9004 only
    assert run.processed == TOTAL_UNITS
    assert count(Order, shop) == 4 and count(OrderLine, shop) == 7
    assert len(lines_by_order(shop)["9003"]) == 3
    assert order(shop, "9001").id == kept_id
    assert customer(shop, "7002").total_spent == Decimal("35.50")


def test_a_run_killed_between_pages_resumes_without_doubling(shop, shopify, fast_sync, app):
    # given: a process killed right after committing its second customers page
    app.config["BACKFILL_PAGE_SIZE"] = 1
    shopify.serve("customers")
    shopify.serve("customers")
    shopify.serve("orders")
    pages: list[int] = []

    def kill_after_two_customers(run, page):
        pages.append(page.units)
        if sum(pages) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill(db.session, shop.id, on_progress=kill_after_two_customers)
    assert latest_run(db.session, shop.id).processed == 2
    # when
    run = run_backfill(db.session, shop.id)
    # then
    assert (run.status, run.processed) == ("completed", TOTAL_UNITS)
    assert count(Customer, shop) == 4 and count(Order, shop) == 4 and count(OrderLine, shop) == 7
    assert db.session.execute(select(func.count()).select_from(BackfillRun)).scalar_one() == 1


def test_backfill_racing_newer_webhooks_ends_with_the_newer_data(client, shop, shopify,
                                                                 fast_sync, app):
    from jobs.ingest import drain_shop

    # given: Grace changed her email after the bulk export was taken (webhook already applied)
    grace_update = customer_payload(customer_id=7002, email="grace.new@example.com",
                                    first_name="Grace", last_name="Hopper")
    grace_update["updated_at"] = "2026-11-01T00:00:00+00:00"
    assert post_webhook(client, "customers/update", grace_update).status_code == 200
    drain_shop(shop.id)
    app.config["BACKFILL_PAGE_SIZE"] = 1
    shopify.serve("customers")
    shopify.serve("orders")
    newer_order = order_payload(order_id=9004, email="ada@example.com", total="44.00",
                                financial_status="paid")
    newer_order["updated_at"] = "2026-11-01T00:00:00+00:00"

    def webhook_mid_backfill(run, page):
        # ... and while the backfill reads the orders file, order 9004 is paid (newer)
        if any(getattr(r, "platform_id", None) == "9001" for r in page.records):
            assert post_webhook(client, "orders/updated", newer_order).status_code == 200
            drain_shop(shop.id)

    # when
    run = run_backfill(db.session, shop.id, on_progress=webhook_mid_backfill)

    # then: the older copies in the bulk file changed nothing that was newer
    assert run.status == "completed"
    assert customer(shop, "7002").email == "grace.new@example.com"
    late = order(shop, "9004")
    assert (late.total_price, late.financial_status, late.cancelled_at) == (
        Decimal("44.00"), "paid", None)
    assert [t for t, _, _ in lines_by_order(shop)["9004"]] != ["Difference Engine Model"]
    ada = customer(shop, "7001")
    assert (ada.orders_count, ada.total_spent) == (2, Decimal("164.00"))


def test_restart_starts_a_new_run_from_the_beginning(shop, shopify, fast_sync):
    # given: a finished run
    for _ in range(2):
        shopify.serve("customers")
        shopify.serve("orders")
    first = run_backfill(db.session, shop.id)
    # when
    second = run_backfill(db.session, shop.id, restart=True)
    # then: a second import of the same history, with nothing doubled
    assert second.id != first.id and second.processed == TOTAL_UNITS
    assert shopify.started == ["customers", "orders", "customers", "orders"]
    assert count(Order, shop) == 4 and count(OrderLine, shop) == 7


def test_a_failed_bulk_operation_is_recorded_on_the_run(shop, fast_sync):
    with responses.RequestsMock() as rsps:
        endpoint = f"https://{DOMAIN}/admin/api/{API_VERSION}/graphql.json"
        rsps.post(endpoint, json=graphql_fixture("counts"))
        rsps.post(endpoint, json=graphql_fixture("bulk_run_created"))
        rsps.post(endpoint, json=graphql_fixture("bulk_operation_failed"))
        with pytest.raises(Exception, match="ended FAILED"):
            run_backfill(db.session, shop.id)
    run = latest_run(db.session, shop.id)
    assert run.status == "failed" and "INTERNAL_SERVER_ERROR" in run.error
    assert run.bulk_operation_id == "gid://shopify/BulkOperation/720918"


def test_a_child_row_far_from_its_parent_is_refused_not_misjoined(shop, fast_sync, app, tmp_path):
    # given: an ungrouped file (a line item after another order started a new page)
    app.config["BACKFILL_PAGE_SIZE"] = 1
    text = (FIXTURES / "bulk" / "orders.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines()]
    stray = rows.pop(1)  # a line item of order 9001
    rows.append(stray)
    ungrouped = tmp_path / "ungrouped.jsonl"
    ungrouped.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        stub = ShopifyBulkStub(rsps, DOMAIN, files={
            "customers": FIXTURES / "bulk" / "customers.jsonl", "orders": ungrouped})
        stub.serve("customers")
        stub.serve("orders")
        # when / then
        with pytest.raises(Exception, match="not grouped"):
            run_backfill(db.session, shop.id)
    assert stray[BULK_PARENT_KEY] == "gid://shopify/Order/9001"


def test_cli_backfill_shows_progress_and_explains_unknown_or_uninstalled_stores(app, shop,
                                                                               shopify, fast_sync):
    runner = app.test_cli_runner()
    # unknown store
    result = runner.invoke(args=["backfill", "nope.myshopify.com"])
    assert result.exit_code == 2 and "no connected store matches" in result.output
    # a real run
    shopify.serve("customers")
    shopify.serve("orders")
    result = runner.invoke(args=["backfill", DOMAIN])
    assert result.exit_code == 0, result.output
    assert f"Done: {TOTAL_UNITS} customers and orders imported" in result.output
    # uninstalled
    db.session.get(type(shop), shop.id).status = "uninstalled"
    db.session.commit()
    result = runner.invoke(args=["backfill", DOMAIN])
    assert result.exit_code == 2 and "uninstalled" in result.output


def test_backfill_of_an_uninstalled_store_is_refused_and_the_job_skips_it(shop, fast_sync):
    from jobs.sync import run_backfill as run_backfill_job

    db.session.get(type(shop), shop.id).status = "uninstalled"
    db.session.commit()
    with pytest.raises(BackfillError, match="uninstalled"):
        run_backfill(db.session, shop.id)
    assert "uninstalled" in run_backfill_job(shop.id)["skipped"]
    assert run_backfill_job(987654)["skipped"].startswith("there is no store")


def test_backfill_source_for_uses_the_shops_token(ctx, shop):
    source = backfill_source_for(db.session, shop, page_size=10)
    assert source.client.endpoint == f"https://{DOMAIN}/admin/api/{API_VERSION}/graphql.json"
    assert source.client._token == "shpat_test_token"
    assert source.page_size == 10
