"""The benchmarks' own machinery: it runs without test-only packages, and the wrk replay
sends every prepared delivery once and accounts for it as the ingest checks assume."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import loadgen
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
from benchmarks.workload import shopify_deliveries, woo_deliveries
shopify = shopify_deliveries(60, secret="s", domain="d.myshopify.com")
woo = woo_deliveries(60, 1, {{t: ("1", "s") for t in
    ("order.created", "order.updated", "customer.created", "customer.updated",
     "sticky_cart.updated")}})
print(len(shopify.unique_keys), len(woo.unique_keys))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["60", "60"]


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
