"""The benchmarks' own machinery: it runs without test-only packages, and the wrk replay
sends every prepared delivery once and accounts for it as the ingest checks assume."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from benchmarks import loadgen
from benchmarks.loyalty_workload import CANCEL, MIN_AGE, PAID, REFUND, LoyaltyStream, OrderTemplate
from benchmarks.payloads import shopify as shopify_payloads
from benchmarks.procstat import CpuMeter
from benchmarks.workload import shopify_deliveries
from connectors.shopify.signatures import verify_webhook

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = ("pytest", "responses", "aiosmtpd", "openapi_spec_validator")


def test_benchmarks_build_their_workloads_without_test_only_packages():
    script = f"""
import sys
for name in {TEST_ONLY!r}:
    sys.modules[name] = None  # importing any of them now raises ImportError
import benchmarks.ingest, benchmarks.backfill, benchmarks.profile_receiver, benchmarks.panel
import benchmarks.loyalty, benchmarks.flows, benchmarks.analytics, benchmarks.analytics_cdnow
from benchmarks.loyalty_workload import LoyaltyStream
from benchmarks.workload import shopify_deliveries, woo_deliveries
shopify = shopify_deliveries(60, secret="s", domain="d.myshopify.com")
woo = woo_deliveries(60, 1, {{t: ("1", "s") for t in
    ("order.created", "order.updated", "customer.created", "customer.updated",
     "sticky_cart.updated")}})
loyalty = LoyaltyStream(1500, 40, seed=1)
print(len(shopify.unique_keys), len(woo.unique_keys), len(list(loyalty)))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["60", "60", "1500"]


def test_workload_deliveries_are_signed_unique_and_redelivered_verbatim():
    work = shopify_deliveries(300, secret="bench-secret", domain="d.myshopify.com", seed=3)
    originals = {d.key: d for d in work.deliveries if not d.duplicate}
    redeliveries = [d for d in work.deliveries if d.duplicate]
    assert len(originals) == 300 and len(redeliveries) == 6
    assert all(verify_webhook(d.body, d.headers["X-Shopify-Hmac-Sha256"], ["bench-secret"])
               for d in work.deliveries)
    for again in redeliveries:
        first = work.deliveries.index(originals[again.key])
        assert work.deliveries.index(again) > first  # a redelivery comes after its original
        assert (again.body, again.headers) == (originals[again.key].body,
                                               originals[again.key].headers)


def test_loyalty_stream_moves_points_for_every_member_in_the_published_shapes():
    stream = LoyaltyStream(3000, 50, seed=4)
    deliveries = list(stream)
    assert len(deliveries) == 3000 and len({d.key for d in deliveries}) == 3000
    topics = Counter(d.topic for d in deliveries)
    assert set(topics) == {PAID, REFUND, CANCEL} and topics == stream.tally.topics
    paid = [orjson.loads(d.body) for d in deliveries if d.topic == PAID]
    # Every member's first order comes first; each paid order has its shopper embedded.
    assert len({o["customer"]["id"] for o in paid[:50]}) == 50
    assert len(stream.tally.members_seen) == 50
    assert all(o["financial_status"] == "paid" and o["cancelled_at"] is None for o in paid)
    placed = {orjson.loads(d.body)["id"]: i for i, d in enumerate(deliveries)
              if d.topic == PAID}
    touched = []
    for i, d in enumerate(deliveries):
        if d.topic == PAID:
            continue
        body = orjson.loads(d.body)
        order_id = body["order_id"] if d.topic == REFUND else body["id"]
        assert i - placed[order_id] >= MIN_AGE  # never in the drain batch that paid it
        touched.append(order_id)
        if d.topic == CANCEL:
            assert body["cancelled_at"] and body["financial_status"] == "voided"
    assert len(touched) == len(set(touched))  # refunded or cancelled once at most


def test_loyalty_order_template_builds_what_order_payload_builds():
    template = OrderTemplate()
    buyer = shopify_payloads.customer_payload(customer_id=42)
    for cancelled in (False, True):
        args = dict(order_id=5_000_000_000_123_007, customer=buyer, email="a@example.com",
                    total="123.45", placed=3.0, updated=9.5, quantity=3, cancelled=cancelled,
                    checkout_token="tok")
        built = template.build(**args)
        expected = shopify_payloads.order_payload(
            **args, **({} if cancelled else {"financial_status": "paid"}))
        built["line_items"][0]["id"] = expected["line_items"][0]["id"]  # a fresh id each
        assert built == expected


def test_missing_wrk_says_how_to_install_it(tmp_path):
    with pytest.raises(SystemExit, match="apt-get install -y wrk"):
        loadgen.find_wrk(str(tmp_path / "no-such-wrk"))


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    seen: Counter = Counter()
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["X-Shopify-Webhook-Id"]
        with self.lock:
            self.seen[key] += 1
            body = b"accepted" if self.seen[key] == 1 else b"duplicate"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # wrk closes its connections mid-request when a run ends


def test_wrk_replay_sends_each_delivery_once_and_counts_what_it_issued(tmp_path):
    try:
        wrk = loadgen.find_wrk()
    except SystemExit:
        pytest.skip("wrk is not on PATH (apt-get install wrk)")
    work = shopify_deliveries(40, secret="s", domain="d.myshopify.com", seed=5)
    deliveries = [d for d in work.deliveries if not d.duplicate]
    server = _QuietServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = Counter()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_port}"
        path = tmp_path / "requests.bin"
        loadgen.write_requests(path, ((d.headers, d.body) for d in deliveries), host)
        run = loadgen.run_wrk(wrk, f"http://{host}", "/webhooks/shopify", path, threads=2,
                              connections=4, seconds=2, cycle=False,
                              meter=CpuMeter({}))
    finally:
        server.shutdown()
        server.server_close()

    # Each thread replayed its own share (every second delivery), all of it, in order.
    assert [(t.index, t.issued, t.exhausted) for t in run.threads] == [(0, 20, True),
                                                                       (1, 20, True)]
    assert set(_Recorder.seen) == {d.key for d in deliveries}
    # Nothing was sent twice but, possibly, a thread's last delivery after it ran out
    # (answered as the redelivery it is).
    last = {deliveries[-2].key, deliveries[-1].key}
    assert {k for k, n in _Recorder.seen.items() if n > 1} <= last
    # Answers still in flight when a thread stopped are not counted: at most one a connection.
    answered = sum(t.accepted for t in run.threads)
    assert 40 - run.in_flight_allowance() * len(run.threads) <= answered <= 40
    assert "wrk" in run.cpu


def test_flows_benchmark_small_run_sends_each_email_once_and_prints_its_figures():
    """A small run of benchmarks/flows.py end to end, on a database of its own (the benchmark
    recreates its target's schema) next to the tests' one."""
    import os

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql") or not os.environ.get("REDIS_URL"):
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    base, _, name = url.rpartition("/")
    done = subprocess.run(
        [sys.executable, "benchmarks/flows.py", "--customers", "400", "--latency-seconds", "1",
         "--database-url", f"{base}/{name}_flows_bench", "--redis-url",
         os.environ["REDIS_URL"]],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    for figure in ("steps/s", "emails/s (messages by status", "the limit", "ratio", "p95"):
        assert figure in done.stdout, done.stdout
    assert "CHECK FAILED" not in done.stdout
    import re

    sent = re.search(r"by one worker: ([\d,]+) in", done.stdout)
    assert sent and int(sent.group(1).replace(",", "")) > 0, done.stdout


def test_cdnow_summary_counts_repeat_days_in_weeks_up_to_the_calibration_end():
    from datetime import date

    from benchmarks.analytics_cdnow import summary

    rows = [(1, date(1997, 1, 1), 10.0), (1, date(1997, 1, 1), 5.0),  # one purchase day
            (1, date(1997, 1, 15), 20.0), (1, date(1997, 2, 12), 12.5),
            (1, date(1997, 10, 5), 99.0),  # after the calibration end: not counted
            (2, date(1997, 3, 1), 7.0)]
    got = summary(rows, end=date(1997, 9, 30))
    assert got["customer"] == [1, 2]
    assert got["frequency"] == [2, 0]  # repeat purchase days
    assert got["recency"] == [42 / 7, 0.0]  # 1 January to 12 February: 42 days
    assert got["T"] == [272 / 7, 213 / 7]  # to 30 September
    # Gamma-Gamma: the repeat buyer's mean repeat-day value, the first day left out.
    assert got["gg_frequency"] == [2] and got["gg_monetary"] == [(20.0 + 12.5) / 2]


def test_analytics_benchmark_small_store_has_the_spec_counts_and_prints_every_figure():
    """A small run of benchmarks/analytics.py's store part, on a database of its own next to
    the tests' one (the generated store is reused by later runs of the same spec)."""
    import json
    import os
    from datetime import datetime, timedelta
    from decimal import Decimal

    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("the analytics benchmark measures PostgreSQL (its store is generated "
                    "inside PostgreSQL): set DATABASE_URL=postgresql://...")
    base, _, name = url.rpartition("/")
    bench_url = f"{base}/{name}_analytics_bench"
    done = subprocess.run(
        [sys.executable, "benchmarks/analytics.py", "--only", "store", "--customers", "300",
         "--orders", "1500", "--repeat", "2", "--json", "--database-url", bench_url],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr
    store = json.loads(done.stdout)["store"]
    for line in ("machine", "store_metrics", "count_matching", "refresh_shop", "refit",
                 "CPUs", "PostgreSQL", "load average"):
        assert line in done.stderr, done.stderr
    assert store["counts"]["customers"] == 300 and store["counts"]["orders"] == 1500
    # 1-4 lines an order
    assert 1500 < store["counts"]["order_lines"] <= 4 * 1500
    for figure in ("count_orders", "count_customers", "store_metrics", "segment_sql",
                   "rfm_sql", "summary_sql", "metrics_json", "count_matching",
                   "refresh_shop", "refit"):
        assert store[figure]["seconds"] > 0 and store[figure]["runs"] >= 1, figure
    assert store["count_matching"]["same_as_sql"], store["count_matching"]
    assert store["machine"]["cores"] >= 1 and store["machine"]["postgresql"]

    # The figures' counts, brute force over the generated rows.
    with psycopg.connect(bench_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        people = conn.execute(
            "SELECT total_spent, last_order_at, country_code, deleted_at FROM customers "
            "WHERE shop_id = %s", (store["shop_id"],)).fetchall()
        orders = conn.execute(
            "SELECT customer_id, placed_at, cancelled_at, test, financial_status FROM orders "
            "WHERE shop_id = %s", (store["shop_id"],)).fetchall()
    assert len(people) == 300 and len(orders) == 1500
    now = datetime.fromisoformat(store["segment_sql"]["now"])
    segment = [p for p in people if p[3] is None and p[0] > Decimal(100)
               and p[1] is not None and p[1] >= now - timedelta(days=180) and p[2] == "US"]
    assert store["segment_sql"]["count"] == len(segment) > 0
    counted = [o for o in orders if o[0] is not None and o[2] is None and not o[3]
               and o[4] != "voided"]
    assert store["summary_sql"]["buyers"] == len({o[0] for o in counted}) > 0
    assert store["summary_sql"]["purchase_days"] == len({(o[0], o[1].date()) for o in counted})
