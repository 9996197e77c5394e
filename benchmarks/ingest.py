"""Webhook ingest benchmark: PostgreSQL + Redis + gunicorn, measured end to end.

    python benchmarks/ingest.py [--n 5000] [--concurrency 16] [--database-url URL] [--redis-url URL]
                                [--platform shopify|woocommerce|both]

A benchmark, not a test (see benchmarks/README.md). It resets the benchmark database and Redis
db, connects one Shopify store, starts the app under gunicorn, and measures:

1. ingest: signed Shopify webhooks POSTed to /webhooks/shopify (verify → inbox row → commit →
   enqueue → 200), ack throughput and latency;
2. bare endpoint: the same bodies to POST /__bench/noop on the same server (reads the body,
   returns 200): what the HTTP stack alone costs;
3. apply: one RQ worker draining the inbox after everything was acknowledged;
4. checks: no acknowledged delivery is missing from the inbox, redeliveries added no rows.

gunicorn serves `benchmarks.ingest:bench_app()`, the real app plus the no-op route, so both
endpoints run in the same server processes. Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "gunicorn").exists() \
    else Path(sys.executable).parent

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sticky_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SHOP_DOMAIN = "sticky-bench.myshopify.com"
WARMUP_DOMAIN = "not-connected-warmup.myshopify.com"
SHOPIFY_API_SECRET = "bench-shopify-secret"  # noqa: S105 - a benchmark-only value
SHOPIFY_API_KEY = "bench-shopify-key"
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 4

# (topic, share of the unique deliveries)
MIX = (
    ("orders/create", 0.50),
    ("orders/paid", 0.15),
    ("customers/create", 0.10),
    ("checkouts/create", 0.10),
    ("refunds/create", 0.05),
    ("orders/updated", 0.05),
    ("customers/update", 0.05),
)
DUPLICATE_SHARE = 0.02


# --------------------------------------------------------------------------- the served app

def bench_app():
    """gunicorn target: the real app plus `POST /__bench/noop`, a route that does no work."""
    from flask import request

    from app import create_app

    app = create_app()

    def noop():
        request.get_data(cache=False)
        return "ok", 200

    app.add_url_rule("/__bench/noop", "bench_noop", noop, methods=["POST"])
    return app


# --------------------------------------------------------------------------- deliveries

@dataclass
class Delivery:
    topic: str
    webhook_id: str
    body: bytes
    headers: dict[str, str]
    duplicate: bool = False


@dataclass
class Generated:
    deliveries: list[Delivery]
    unique_ids: set[str]
    order_ids: set[str]
    customer_ids: set[str]
    email_only: set[str]  # shoppers known only by email (guest orders, anonymous checkouts)
    topics: Counter = field(default_factory=Counter)


def sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _delivery(topic: str, payload: dict, secret: str, domain: str) -> Delivery:
    body = json.dumps(payload).encode()
    webhook_id = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Triggered-At": "2026-03-01T12:00:00Z",
    }
    return Delivery(topic, webhook_id, body, headers)


def make_deliveries(n: int, *, secret: str = SHOPIFY_API_SECRET, domain: str = SHOP_DOMAIN,
                    seed: int = 7) -> Generated:
    """N unique, signed deliveries in the MIX above, plus ~2% redeliveries of earlier ones.

    Payloads come from benchmarks/payloads (Shopify's published samples, varied). Follow-up
    topics (paid, updated, refund, customer update) refer to an order or customer that an
    earlier delivery created, with a newer updated_at.
    """
    sys.path.insert(0, str(ROOT))
    from benchmarks.payloads.shopify import (
        checkout_payload,
        customer_payload,
        next_id,
        order_payload,
        refund_payload,
    )

    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    topics = [t for t, _ in MIX]
    weights = [w for _, w in MIX]
    first_names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
    last_names = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen"]

    customers: list[dict] = []          # customer payloads already announced
    orders: list[dict] = []             # order state: id, customer, total, placed, updated
    unique: list[Delivery] = []
    counts: Counter = Counter()
    order_ids: set[str] = set()
    customer_ids: set[str] = set()
    email_only: set[str] = set()
    clock = 0.0  # minutes after factories.BASE_TIME

    def new_customer(updated: float) -> dict:
        k = len(customer_ids) + 1
        payload = customer_payload(
            email=f"shopper{k}@example.com", first_name=rng.choice(first_names),
            last_name=rng.choice(last_names), updated=updated)
        customer_ids.add(str(payload["id"]))
        return payload

    def emit(topic: str, payload: dict) -> None:
        unique.append(_delivery(topic, payload, secret, domain))
        counts[topic] += 1

    while len(unique) < n:
        clock += 0.5
        topic = rng.choices(topics, weights)[0]
        if topic in ("orders/paid", "orders/updated", "refunds/create") and not orders:
            topic = "orders/create"
        if topic == "customers/update" and not customers:
            topic = "customers/create"

        if topic == "customers/create":
            payload = new_customer(clock)
            customers.append(payload)
            emit(topic, payload)
        elif topic == "customers/update":
            payload = dict(rng.choice(customers))
            payload.update(updated_at=_ts(clock), tags=rng.choice(["", "vip", "wholesale"]),
                           last_name=rng.choice(last_names))
            emit(topic, payload)
        elif topic == "orders/create":
            if customers and rng.random() < 0.7:
                buyer = rng.choice(customers)
            elif rng.random() < 0.9:
                buyer = new_customer(clock)
                customers.append(buyer)
            else:
                buyer = None  # guest checkout
            total = f"{rng.randint(15, 400)}.{rng.randint(0, 99):02d}"
            order = {"id": next_id(), "customer": buyer, "total": total, "placed": clock,
                     "quantity": rng.randint(1, 3), "token": uuid.uuid4().hex}
            orders.append(order)
            order_ids.add(str(order["id"]))
            # Created pending; orders/paid later moves it to paid.
            if buyer is None:
                email_only.add("guest@example.com")
            emit(topic, _order(order_payload, order, clock, "pending"))
        elif topic == "orders/paid":
            emit(topic, _order(order_payload, rng.choice(orders), clock, "paid"))
        elif topic == "orders/updated":
            emit(topic, _order(order_payload, rng.choice(orders), clock, "paid",
                               fulfillment_status="fulfilled"))
        elif topic == "refunds/create":
            order = rng.choice(orders)
            amount = f"{min(float(order['total']), rng.randint(5, 50)):.2f}"
            emit(topic, refund_payload(order_id=order["id"], amount=amount, refund_id=next_id(),
                                       minutes=clock))
        elif topic == "checkouts/create":
            buyer = rng.choice(customers) if customers and rng.random() < 0.6 else None
            email = buyer["email"] if buyer else f"visitor{rng.randint(1, 10**9)}@example.com"
            if buyer is None:
                email_only.add(email)
            emit(topic, checkout_payload(token=uuid.uuid4().hex, cart_token=uuid.uuid4().hex,
                                         email=email, updated=clock, customer=buyer))

    # Redeliveries: the same delivery (same webhook id, same bytes) sent again later.
    deliveries = list(unique)
    n_dup = round(n * DUPLICATE_SHARE)
    gap = max(1, min(64, n // 4))
    inserts = []
    for _ in range(n_dup):
        original = rng.randrange(0, max(1, n - gap))
        position = rng.randrange(original + gap, n + 1)
        d = unique[original]
        inserts.append((position, Delivery(d.topic, d.webhook_id, d.body, d.headers, True)))
    for position, dup in sorted(inserts, key=lambda x: x[0], reverse=True):
        deliveries.insert(position, dup)
    return Generated(deliveries, {d.webhook_id for d in unique}, order_ids, customer_ids,
                     email_only, counts)


def _ts(minutes: float) -> str:
    from benchmarks.payloads.shopify import ts

    return ts(minutes)


def _order(order_payload, order: dict, clock: float, financial_status: str, **extra) -> dict:
    return order_payload(order_id=order["id"], customer=order["customer"],
                         email=(order["customer"] or {}).get("email") or "guest@example.com",
                         total=order["total"], quantity=order["quantity"],
                         placed=order["placed"], updated=clock,
                         financial_status=financial_status, checkout_token=order["token"],
                         **extra)


# --------------------------------------------------------------------------- HTTP client

@dataclass
class Phase:
    name: str
    elapsed: float
    latencies_ms: list[float]
    statuses: Counter
    accepted_ids: set[str]
    duplicates_acked: int
    errors: Counter
    client_cpu: float = 0.0   # CPU seconds used by this (client) process
    server_cpu: float = 0.0   # CPU seconds used by gunicorn master + workers

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def process_tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by `pid` and its direct children (Linux)."""
    if pid is None:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        return 0.0
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def send_all(name: str, url: str, deliveries: list[Delivery], concurrency: int,
             server_pid: int | None = None) -> Phase:
    """POST every delivery with `concurrency` threads, one keep-alive requests.Session each."""
    import requests

    local = threading.local()
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    accepted: set[str] = set()
    duplicates = [0]

    def session() -> requests.Session:
        s = getattr(local, "session", None)
        if s is None:
            s = local.session = requests.Session()
        return s

    def post(d: Delivery) -> None:
        s = session()
        started = time.perf_counter()
        try:
            response = s.post(url, data=d.body, headers=d.headers, timeout=30)
            content = response.content
            status = response.status_code
        except requests.RequestException as exc:
            with lock:
                errors[type(exc).__name__] += 1
            return
        ms = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(ms)
            statuses[status] += 1
            if status == 200:
                accepted.add(d.webhook_id)
                if b"duplicate" in content:
                    duplicates[0] += 1

    cpu0, server0 = time.process_time(), process_tree_cpu(server_pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name) as pool:
        list(pool.map(post, deliveries))
    elapsed = time.perf_counter() - started
    return Phase(name, elapsed, latencies, statuses, accepted, duplicates[0], errors,
                 time.process_time() - cpu0, process_tree_cpu(server_pid) - server0)


# --------------------------------------------------------------------------- setup

def reset_database(url: str) -> None:
    """Create the database if missing, then drop and recreate its public schema."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    dbname = conninfo_to_dict(plain).get("dbname")
    if not dbname:
        raise SystemExit(f"--database-url {url!r} names no database")
    with psycopg.connect(make_conninfo(plain, dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen:
    cmd = [str(VENV_BIN / "gunicorn"), "-w", str(GUNICORN_WORKERS), "-k", "gthread",
           "--threads", str(GUNICORN_THREADS), "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", "benchmarks.ingest:bench_app()"]
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=ROOT, env=env,  # noqa: S603 - our own fixed command
                                stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(base: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n"
                               + log_path.read_text(errors="replace")[-4000:])
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz 200 within "
                       f"{timeout:.0f}s:\n" + log_path.read_text(errors="replace")[-4000:])


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drain_with_one_worker(shop_id: int, counted) -> tuple:
    """Drain the queues with one burst RQ worker (forking, as in production), then read the
    shop's inbox and mirror. Call inside an app context with no open session.

    Returns (seconds, inbox rows by status, delivery keys, failures by (topic, error),
    {label: row count} for each (label, model) in `counted`)."""
    from rq import Worker
    from rq.serializers import JSONSerializer
    from sqlalchemy import func, select

    from app.db import db
    from app.inbox.models import InboxEntry
    from app.queue import QUEUE_NAMES, get_queue, get_redis

    db.engine.dispose()
    worker = Worker([get_queue(name) for name in QUEUE_NAMES], connection=get_redis(),
                    serializer=JSONSerializer)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    seconds = time.perf_counter() - started
    session = db.session
    mine = InboxEntry.shop_id == shop_id
    statuses = dict(session.execute(
        select(InboxEntry.status, func.count()).where(mine).group_by(InboxEntry.status)).all())
    keys = set(session.execute(select(InboxEntry.delivery_key).where(mine)).scalars())
    failures = Counter(session.execute(
        select(InboxEntry.topic, InboxEntry.error)
        .where(mine, InboxEntry.status == "failed")).all())
    mirror = {label: session.execute(select(func.count()).select_from(model)
                                     .where(model.shop_id == shop_id)).scalar()
              for label, model in counted}
    session.close()
    return seconds, statuses, keys, failures, mirror


def machine_info(app) -> dict[str, str]:
    from sqlalchemy import text

    from app.db import db
    from app.queue import get_redis

    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with db.engine.connect() as conn:
        pg = conn.execute(text("SELECT version()")).scalar()
    try:
        redis_version = get_redis(app).info("server").get("redis_version", "?")
    except Exception:  # noqa: BLE001 - informational only
        redis_version = "?"
    import gunicorn

    cpus = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return {"nproc": str(usable), "cpus": str(cpus), "cpu": model,
            "python": f"{platform.python_implementation()} {platform.python_version()}",
            "postgres": pg, "redis": redis_version, "gunicorn": gunicorn.__version__,
            "os": platform.platform()}


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000, help="unique webhook deliveries")
    parser.add_argument("--concurrency", type=int, default=16, help="client threads")
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
                        help="PostgreSQL database to reset and use (env BENCH_DATABASE_URL)")
    parser.add_argument("--redis-url",
                        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
                        help="Redis database to FLUSH and use (env BENCH_REDIS_URL)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--platform", choices=("shopify", "woocommerce", "both"),
                        default="shopify",
                        help="which receiver to measure (both: Shopify, then WooCommerce, each "
                             "on a freshly reset database)")
    args = parser.parse_args(argv)
    status = 0
    if args.platform in ("shopify", "both"):
        status |= run_shopify(args)
    if args.platform in ("woocommerce", "both"):
        status |= run_woocommerce(args)
    return status


def run_shopify(args: argparse.Namespace) -> int:
    """The Shopify receiver: POST /webhooks/shopify, then one worker applies everything."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)

    from cryptography.fernet import Fernet

    t0 = time.perf_counter()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url, REDIS_URL=args.redis_url,
        SHOPIFY_API_SECRET=SHOPIFY_API_SECRET, SHOPIFY_API_KEY=SHOPIFY_API_KEY,
        SECRET_KEY="bench-secret-key-" + uuid.uuid4().hex,
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    env.pop("SHOPIFY_API_SECRET_OLD", None)
    # The in-process app (migrations, shop, worker, checks) reads the same settings.
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SHOPIFY_API_SECRET",
                                           "SHOPIFY_API_KEY", "SECRET_KEY",
                                           "TOKEN_ENCRYPTION_KEY")})
    os.environ.pop("SHOPIFY_API_SECRET_OLD", None)

    print(f"resetting {args.database_url} and {args.redis_url} ...", flush=True)
    reset_database(args.database_url)

    import logging

    from app import create_app
    from app.db import db
    from app.migrate import upgrade
    from app.queue import get_redis
    from app.shops.service import connect_shopify_by_token

    app = create_app()
    get_redis(app).flushdb()
    upgrade(app)
    logging.getLogger().setLevel(logging.WARNING)  # alembic's fileConfig-free INFO lines
    with app.app_context():
        shop = connect_shopify_by_token(db.session, SHOP_DOMAIN, "shpat_bench_token")
        db.session.commit()
        shop_id = shop.id
    info = machine_info(app)

    print(f"generating {args.n} deliveries (+{DUPLICATE_SHARE:.0%} redeliveries) ...",
          flush=True)
    gen = make_deliveries(args.n, seed=args.seed)
    warmup = make_deliveries(max(64, args.concurrency * 8), domain=WARMUP_DOMAIN,
                             seed=args.seed + 1).deliveries
    body_bytes = sum(len(d.body) for d in gen.deliveries)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"sticky-bench-gunicorn-{port}.log"
    proc = None
    try:
        proc = start_gunicorn(env, port, log_path)
        wait_healthy(base, proc, log_path)
        # Warm-up: every worker opens its DB / Redis connections and imports lazily loaded
        # code. Deliveries for a store that is not connected touch the DB but store nothing.
        send_all("warmup", base + "/webhooks/shopify", warmup, args.concurrency)
        send_all("warmup", base + "/__bench/noop", warmup, args.concurrency)

        print(f"sending {len(gen.deliveries)} webhooks to /webhooks/shopify ...", flush=True)
        ingest = send_all("ingest", base + "/webhooks/shopify", gen.deliveries,
                          args.concurrency, proc.pid)
        print(f"sending {len(gen.deliveries)} requests to /__bench/noop ...", flush=True)
        bare = send_all("noop", base + "/__bench/noop", gen.deliveries, args.concurrency,
                        proc.pid)
    finally:
        stop(proc)
    server_log = log_path.read_text(errors="replace") if log_path.exists() else ""

    # ---- apply: one RQ worker, after every delivery was acknowledged
    from sqlalchemy import func, select

    from app.inbox.models import InboxEntry
    from app.profiles.models import Cart, Customer, Order, Refund
    from app.queue import QUEUE_NAMES, get_queue

    with app.app_context():
        queued = {name: get_queue(name).count for name in QUEUE_NAMES}
        pending_before = db.session.execute(
            select(func.count()).select_from(InboxEntry)
            .where(InboxEntry.shop_id == shop_id, InboxEntry.status == "pending")).scalar()
        db.session.close()
        print(f"draining {pending_before} pending inbox rows with 1 RQ worker "
              f"(queued jobs: {queued}) ...", flush=True)
        drained = drain_with_one_worker(shop_id, (
            ("customers", Customer), ("orders", Order), ("refunds", Refund),
            ("carts/checkouts", Cart)))
    drain_seconds, statuses, keys, failures, mirror = drained

    rows = sum(statuses.values())
    processed = statuses.get("processed", 0)
    not_processed = rows - processed
    lost = len(ingest.accepted_ids - keys)
    extra_rows = len(keys - gen.unique_ids)
    dups_sent = sum(1 for d in gen.deliveries if d.duplicate)
    unique_acked = len(ingest.accepted_ids)
    total = time.perf_counter() - t0

    # ---- report
    w = GUNICORN_WORKERS
    th = GUNICORN_THREADS
    c = args.concurrency
    line = "=" * 78
    print()
    print(line)
    print("Sticky webhook ingest benchmark")
    print(line)
    print(f"machine: {info['nproc']} CPUs usable ({info['cpus']} online), {info['cpu']}")
    print(f"         {info['os']}")
    print(f"python:  {info['python']}; gunicorn {info['gunicorn']}; redis {info['redis']}")
    print(f"postgres: {info['postgres']}")
    print(f"NOTE: client, gunicorn, PostgreSQL and Redis share these {info['nproc']} CPUs, "
          "so every figure is a lower bound for a dedicated server.")
    print(f"workload: {args.n} unique deliveries + {dups_sent} redeliveries = "
          f"{len(gen.deliveries)} requests, avg body {body_bytes / len(gen.deliveries):.0f} B")
    print("          " + ", ".join(f"{t} {gen.topics[t]}" for t, _ in MIX))
    print(line)
    for phase in (ingest, bare):
        bad = {k: v for k, v in phase.statuses.items() if k != 200}
        if bad or phase.errors:
            print(f"WARNING {phase.name}: non-200 {bad}, client errors {dict(phase.errors)}")
    print(f"ingest (gunicorn {w} procs x {th} threads, {c} client threads): "
          f"{ingest.rate:.0f} webhooks/s, p50 {percentile(ingest.latencies_ms, 50):.1f} ms, "
          f"p99 {percentile(ingest.latencies_ms, 99):.1f} ms "
          f"({ingest.ok} acked in {ingest.elapsed:.2f} s)")
    ratio = ingest.rate / bare.rate if bare.rate else float("nan")
    print(f"bare endpoint (same server): {bare.rate:.0f} req/s, "
          f"p50 {percentile(bare.latencies_ms, 50):.1f} ms, "
          f"p99 {percentile(bare.latencies_ms, 99):.1f} ms; ingest/bare = {ratio:.2f}")
    for phase in (ingest, bare):
        print(f"  CPU during {phase.name}: client {phase.client_cpu:.1f} s, gunicorn "
              f"{phase.server_cpu:.1f} s, over {phase.elapsed:.1f} s wall on {info['nproc']} "
              f"CPUs (client {phase.client_cpu / phase.elapsed:.2f} cores, server "
              f"{phase.server_cpu / phase.elapsed:.2f} cores; the rest is PostgreSQL, Redis, "
              "kernel)")
    rate = processed / drain_seconds if drain_seconds else float("nan")
    print(f"apply (1 worker): {rate:.0f} events/s ({processed} events in {drain_seconds:.1f} s)")
    print(f"events lost: {lost}")
    print(line)
    print(f"acked: {unique_acked} unique deliveries; redeliveries answered 'duplicate': "
          f"{ingest.duplicates_acked} of {dups_sent}")
    print(f"inbox rows: {rows} (extra rows from redeliveries: {extra_rows}); "
          f"by status: {statuses}")
    print(f"not processed after drain: {not_processed} "
          f"(pending {statuses.get('pending', 0)}, failed {statuses.get('failed', 0)})")
    for (topic, error), count in failures.most_common(5):
        print(f"  failed x{count} {topic}: {(error or '')[:160]}")
    print(f"mirror: {mirror['customers']} customers (expected {len(gen.customer_ids)} with a "
          f"Shopify id + {len(gen.email_only)} known by email only), {mirror['orders']} orders "
          f"(expected {len(gen.order_ids)}), {mirror['refunds']} refunds "
          f"(expected {gen.topics['refunds/create']}), {mirror['carts/checkouts']} checkouts "
          f"(expected {gen.topics['checkouts/create']})")
    if server_log.strip():
        lines = server_log.strip().splitlines()
        print(f"gunicorn log: {len(lines)} lines, last: {lines[-1][:160]}")
    print(f"total benchmark time {total:.0f} s")
    print(line)
    ok = lost == 0 and extra_rows == 0 and not ingest.errors
    return 0 if ok else 1


# --------------------------------------------------------------------------- WooCommerce

WOO_STORE_URL = "https://woo-bench.example"
# (topic, share of the unique deliveries)
WOO_MIX = (
    ("order.created", 0.50),
    ("order.updated", 0.25),
    ("customer.created", 0.15),
    ("customer.updated", 0.05),
    ("sticky_cart.updated", 0.05),
)


def make_woo_deliveries(n: int, shop_id: int, secrets: dict[str, tuple[str, str]], *,
                        seed: int = 7) -> Generated:
    """N unique signed WooCommerce deliveries (payloads from WooCommerce's documented REST
    examples, via benchmarks/payloads) plus ~2% redeliveries. A delivery's id in the
    result is its inbox dedup key (resource + id + date_modified_gmt)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks.payloads.woocommerce import customer, gmt, order, wc_sign
    from connectors.woocommerce.signatures import delivery_key

    rng = random.Random(seed)  # noqa: S311 - reproducible workload, not security
    topics = [t for t, _ in WOO_MIX]
    weights = [w for _, w in WOO_MIX]
    unique: list[Delivery] = []
    counts: Counter = Counter()
    customers: list[dict] = []
    orders: list[dict] = []
    order_ids: set[str] = set()
    customer_ids: set[str] = set()
    email_only: set[str] = set()
    clock = 0.0
    next_id = iter(range(10_000, 10_000_000))

    def emit(topic: str, payload: dict) -> None:
        body = json.dumps(payload).encode()
        hook_id, secret = secrets[topic]
        delivery_id = uuid.uuid4().hex
        resource, _, event = topic.partition(".")
        headers = {
            "Content-Type": "application/json", "X-WC-Webhook-Source": WOO_STORE_URL + "/",
            "X-WC-Webhook-Topic": topic, "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event, "X-WC-Webhook-Signature": wc_sign(body, secret),
            "X-WC-Webhook-ID": hook_id, "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        key = delivery_key(shop_id, topic, body, delivery_id)
        unique.append(Delivery(topic, key, body, headers))
        counts[topic] += 1

    while len(unique) < n:
        clock += 0.5
        topic = rng.choices(topics, weights)[0]
        if topic == "order.updated" and not orders:
            topic = "order.created"
        if topic == "customer.updated" and not customers:
            topic = "customer.created"
        if topic == "customer.created":
            k = len(customers) + 1
            payload = customer(customer_id=next(next_id), email=f"shopper{k}@example.com",
                               modified=clock)
            customers.append(payload)
            customer_ids.add(str(payload["id"]))
            emit(topic, payload)
        elif topic == "customer.updated":
            payload = dict(rng.choice(customers))
            payload.update(date_modified_gmt=gmt(clock), first_name=rng.choice(["Ada", "Alan"]))
            emit(topic, payload)
        elif topic == "order.created":
            buyer = rng.choice(customers) if customers and rng.random() < 0.7 else None
            email = buyer["email"] if buyer else f"guest{rng.randint(1, 300)}@example.com"
            if buyer is None:
                email_only.add(email)
            state = {"id": next(next_id), "customer_id": buyer["id"] if buyer else 0,
                     "email": email, "total": f"{rng.randint(15, 400)}.{rng.randint(0, 99):02d}",
                     "created": clock}
            orders.append(state)
            order_ids.add(str(state["id"]))
            emit(topic, order(order_id=state["id"], customer_id=state["customer_id"],
                              email=email, total=state["total"], created=clock, modified=clock))
        elif topic == "order.updated":
            state = rng.choice(orders)
            emit(topic, order(order_id=state["id"], customer_id=state["customer_id"],
                              email=state["email"], total=state["total"], status="completed",
                              created=state["created"], modified=clock))
        else:
            cart_id = uuid.uuid4().hex[:16]
            emit(topic, {"id": f"c_{cart_id}", "customer_id": 0, "email": None,
                         "email_consent": False, "currency": "USD", "subtotal": "20.00",
                         "total": "22.00", "items": [], "recovery_url": None,
                         "source": "classic", "status": "open",
                         "date_created_gmt": gmt(clock), "date_modified_gmt": gmt(clock)})

    deliveries = list(unique)
    gap = max(1, min(64, n // 4))
    inserts = []
    for _ in range(round(n * DUPLICATE_SHARE)):
        original = rng.randrange(0, max(1, n - gap))
        d = unique[original]
        inserts.append((rng.randrange(original + gap, n + 1),
                        Delivery(d.topic, d.webhook_id, d.body, d.headers, True)))
    for position, dup in sorted(inserts, key=lambda x: x[0], reverse=True):
        deliveries.insert(position, dup)
    return Generated(deliveries, {d.webhook_id for d in unique}, order_ids, customer_ids,
                     email_only, counts)


def run_woocommerce(args: argparse.Namespace) -> int:
    """The WooCommerce receiver: POST /webhooks/woocommerce/<id>, then one worker applies.

    Same figures as the Shopify run: accepted/s with p50/p99, applied events/s, events lost.
    """
    from cryptography.fernet import Fernet

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database_url, REDIS_URL=args.redis_url,
        SECRET_KEY="bench-secret-key-" + uuid.uuid4().hex,
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                           "TOKEN_ENCRYPTION_KEY")})
    print(f"[woocommerce] resetting {args.database_url} and {args.redis_url} ...", flush=True)
    reset_database(args.database_url)

    import logging

    from app import create_app
    from app.crypto import encrypt
    from app.db import db
    from app.migrate import upgrade
    from app.profiles.models import Cart, Customer, Order
    from app.queue import get_redis
    from app.shops.models import Shop
    from app.woocommerce.models import WooWebhook
    from connectors.woocommerce.webhooks import TOPICS, new_secret

    app = create_app()
    get_redis(app).flushdb()
    upgrade(app)
    logging.getLogger().setLevel(logging.WARNING)
    secrets: dict[str, tuple[str, str]] = {}
    with app.app_context():
        shop = Shop(platform="woocommerce", domain="woo-bench.example", name="woo-bench",
                    currency="USD", status="active", api_base_url=WOO_STORE_URL,
                    consumer_key_encrypted=encrypt("ck_bench"),
                    consumer_secret_encrypted=encrypt("cs_bench"))
        db.session.add(shop)
        db.session.flush()
        for n, topic in enumerate(TOPICS):
            secret = new_secret()
            secrets[topic] = (str(800 + n), secret)
            db.session.add(WooWebhook(shop_id=shop.id, topic=topic, remote_id=str(800 + n),
                                      secret_encrypted=encrypt(secret), status="active"))
        db.session.commit()
        shop_id = shop.id
    print(f"[woocommerce] generating {args.n} deliveries ...", flush=True)
    gen = make_woo_deliveries(args.n, shop_id, secrets, seed=args.seed)
    warmup = make_woo_deliveries(max(64, args.concurrency * 8), shop_id + 1000, secrets,
                                 seed=args.seed + 1).deliveries  # an unknown store: 404s

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/webhooks/woocommerce/{shop_id}"
    log_path = Path(tempfile.gettempdir()) / f"sticky-bench-gunicorn-woo-{port}.log"
    proc = None
    try:
        proc = start_gunicorn(env, port, log_path)
        wait_healthy(base, proc, log_path)
        send_all("warmup", f"{base}/webhooks/woocommerce/{shop_id + 1000}", warmup,
                 args.concurrency)
        print(f"[woocommerce] sending {len(gen.deliveries)} webhooks to {url} ...", flush=True)
        ingest = send_all("ingest", url, gen.deliveries, args.concurrency, proc.pid)
    finally:
        stop(proc)

    with app.app_context():
        db.session.close()
        drained = drain_with_one_worker(shop_id, (
            ("customers", Customer), ("orders", Order), ("carts", Cart)))
    drain_seconds, statuses, keys, failures, mirror = drained

    processed = statuses.get("processed", 0)
    lost = len(ingest.accepted_ids - keys)
    dups_sent = sum(1 for d in gen.deliveries if d.duplicate)
    line = "=" * 78
    print()
    print(line)
    print("Sticky webhook ingest benchmark: WooCommerce receiver")
    print(line)
    bad = {k: v for k, v in ingest.statuses.items() if k != 200}
    if bad or ingest.errors:
        print(f"WARNING ingest: non-200 {bad}, client errors {dict(ingest.errors)}")
    print("workload: " + ", ".join(f"{t} {gen.topics[t]}" for t, _ in WOO_MIX)
          + f"; + {dups_sent} redeliveries")
    print(f"ingest (gunicorn {GUNICORN_WORKERS} procs x {GUNICORN_THREADS} threads, "
          f"{args.concurrency} client threads): {ingest.rate:.0f} webhooks/s, "
          f"p50 {percentile(ingest.latencies_ms, 50):.1f} ms, "
          f"p99 {percentile(ingest.latencies_ms, 99):.1f} ms")
    rate = processed / drain_seconds if drain_seconds else float("nan")
    print(f"apply (1 worker): {rate:.0f} events/s ({processed} events in {drain_seconds:.1f} s)")
    print(f"events lost: {lost}")
    print(f"redeliveries answered 'duplicate': {ingest.duplicates_acked} of {dups_sent}; "
          f"inbox by status: {statuses}")
    for (topic, error), count in failures.most_common(5):
        print(f"  failed x{count} {topic}: {(error or '')[:160]}")
    print(f"mirror: {mirror['customers']} customers (expected {len(gen.customer_ids)} "
          f"registered + up to {len(gen.email_only)} guests), {mirror['orders']} orders "
          f"(expected {len(gen.order_ids)}), {mirror['carts']} carts "
          f"(expected {gen.topics['sticky_cart.updated']})")
    print(line)
    return 0 if lost == 0 and not ingest.errors and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
