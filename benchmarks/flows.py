"""Flows benchmark: a day of a 100,000-customer store's traffic through every built-in flow,
its emails rendered and handed to a local SMTP sink by one worker.

    python benchmarks/flows.py [--customers 100000] [--database-url URL] [--redis-url URL]
                               [--seed 7] [--latency-seconds 20]

A benchmark, not a test (see benchmarks/README.md). Destructive on its targets: it recreates
the database's public schema and flushes the Redis db. Needs aiosmtpd (the test extras) for
the sink, an SMTP server in a thread of this process that accepts and counts.

1. Store: N customers bulk-loaded with SQL (70 % subscribed to email marketing), a sender
   address, smart sending at 16 h; every built-in flow live (`app.flows.builtins`).
2. The day: about one customer in ten triggers a flow (checkouts started with their items,
   orders with their lines, fulfilments, new customers, loyalty events, lapsed shoppers,
   birthdays), each a run whose email step is due at a time of that day.
3. Steps: every due step evaluated in due order, as the sweep would (the engine's
   `runner.advance`: exits, filters, consent, suppression, smart sending, the message
   row): steps evaluated per second.
4. Emails: one burst RQ worker delivers every queued message by the exactly-once rule
   (variables, render, CSS, compose, claim, send, record), a job per batch of messages,
   each on one SMTP connection: emails per second. Then the same sink's rate for
   pre-rendered messages on one connection (the limit), and the ratio.
5. Delay: the day's last slice replayed in real time at half the measured email rate: an
   engine thread evaluates each step when it comes due and a worker thread delivers what
   has come due since its last batch, as one batch (`delivery.deliver_many`); the p95 of
   (sent - due).

Aims (issue 13): at least 300 emails/s from one worker, a ratio of at least 0.5, and a p95
due-to-sent delay under 5 s. Exit status 1 if a check fails (an email sent twice, a message
left queued). Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sticky_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
DOMAIN = "flows-bench.myshopify.com"
DAY = datetime(2026, 12, 7, tzinfo=UTC)
BATCH = 500
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(.+)$", re.M | re.I)
AIMS = {"emails_per_second": 300, "ratio": 0.5, "p95_delay_seconds": 5.0}

# Share of customers triggering each flow on the day, and the hour profile of store traffic.
DAY_SHARES = {"welcome": 0.006, "abandoned_checkout": 0.03, "post_purchase": 0.015,
              "feedback": 0.012, "win_back": 0.01, "birthday": 0.0027,
              "loyalty_notices": 0.02}
HOURLY = [1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 6, 6, 6, 6, 7, 8, 9, 9, 7, 4, 2]


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# --------------------------------------------------------------------------- setup

def fresh_app(args: argparse.Namespace):
    import logging

    from app import create_app
    from app.migrate import upgrade
    from app.queue import get_redis
    from benchmarks.ingest import bench_env, reset_database

    print(f"resetting {args.database_url} and {args.redis_url} ...", flush=True)
    bench_env(args)
    reset_database(args.database_url)
    app = create_app({"APP_URL": "https://sticky.bench"})
    get_redis(app).flushdb()
    upgrade(app)
    logging.getLogger().setLevel(logging.WARNING)
    return app


LOAD_SQL = [
    """INSERT INTO customers (shop_id, platform_customer_id, email, email_normalized,
           first_name, last_name, email_marketing, orders_count, total_spent, points_balance,
           tier, created_at, updated_at)
       SELECT %(shop)s, 'c' || n, 'shopper' || n || '@bench.example',
              'shopper' || n || '@bench.example', 'Shopper' || n, 'Bench',
              CASE WHEN n %% 10 < 7 THEN 'subscribed' ELSE 'not_subscribed' END,
              n %% 5, (n %% 500)::numeric, n %% 900,
              CASE WHEN n %% 3 = 0 THEN 'Gold' ELSE NULL END, now(), now()
       FROM generate_series(1, %(customers)s) AS n""",
]


def setup_store(app, customers: int) -> int:
    """The store, its customers and every built-in flow live; the shop's id."""
    import psycopg

    from app.db import db
    from app.flows import builtins, service
    from app.flows.models import LIVE
    from app.settings.service import update_settings
    from app.shops.service import connect_shopify_by_token

    with app.app_context():
        shop = connect_shopify_by_token(db.session, DOMAIN, "shpat_bench_flows")
        shop.name = "Bench Store"
        db.session.commit()
        update_settings(db.session, shop, {"sender_email": "hello@bench.example",
                                           "sender_name": "Bench Store",
                                           "smart_sending_hours": 16})
        builtins.install(db.session, shop.id)
        for flow in service.list_flows(db.session, shop.id):
            service.set_status(db.session, flow, LIVE)
        db.session.commit()
        shop_id = shop.id
    with psycopg.connect(_plain(os.environ["DATABASE_URL"]), autocommit=True) as conn:
        for sql in LOAD_SQL:
            conn.execute(sql, {"shop": shop_id, "customers": customers})
        conn.execute("ANALYZE customers")
    return shop_id


def _first_email(definition: dict) -> dict | None:
    from app.flows.definition import walk

    return next((s for s in walk(definition["steps"]) if s.get("type") == "email"), None)


def plan_day(app, shop_id: int, customers: int, seed: int) -> list[tuple[int, datetime]]:
    """The day's runs (each at its first email step, due at a time of the day), with the
    checkouts and orders they are about, bulk-written; [(run id, due)] in due order."""
    import random

    import psycopg

    from app.db import db
    from app.flows import service

    rng = random.Random(seed)
    hours = [h for h, weight in enumerate(HOURLY) for _ in range(weight)]
    with app.app_context():
        flows = {f.key: f for f in service.list_flows(db.session, shop_id)}
    runs, carts, orders, lines = [], [], [], []
    for key, share in DAY_SHARES.items():
        flow = flows.get(key)
        step = _first_email(flow.definition) if flow else None
        if step is None:
            continue
        for n in rng.sample(range(1, customers + 1), max(1, int(customers * share))):
            due = DAY + timedelta(hours=rng.choice(hours), seconds=rng.randrange(3600))
            context: dict = {"event": {}}
            if key == "abandoned_checkout":
                token = f"ck{n}"
                context = {"checkout_token": token, "event": {"currency": "USD"}}
                items = [{"title": f"Product {k}", "variant_title": "Default",
                          "quantity": 1 + k % 2, "price": f"{10 + k * 7}.00",
                          "product_id": str(k), "image_url": f"https://cdn.bench/{k}.jpg"}
                         for k in range(1 + n % 3)]
                carts.append((token, n, items))
            elif key in ("post_purchase", "feedback"):
                orders.append((f"o{key}{n}", n))
                context = {"order_key": f"o{key}{n}", "event": {}}
            elif key == "loyalty_notices":
                context = {"event": {"points": 10 + n % 90}}
            runs.append((flow.id, flow.version, n, f"{key}:{n}", context, step["id"], due))
    import orjson

    with psycopg.connect(_plain(os.environ["DATABASE_URL"]), autocommit=True) as conn:
        ids = dict(conn.execute("SELECT platform_customer_id, id FROM customers "
                                "WHERE shop_id = %s", (shop_id,)).fetchall())
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO carts (shop_id, customer_id, kind, token, email, currency, "
                "total_price, line_items, recovery_url, status, created_at) VALUES "
                "(%s, %s, 'checkout', %s, %s, 'USD', 59.00, %s::jsonb, %s, 'abandoned', now())",
                [(shop_id, ids[f"c{n}"], token, f"shopper{n}@bench.example",
                  orjson.dumps(items).decode(),
                  f"https://{DOMAIN}/1/checkouts/{token}/recover?key=k{n}")
                 for token, n, items in carts])
            order_ids = {}
            for platform_id, n in orders:
                order_ids[platform_id] = cur.execute(
                    "INSERT INTO orders (shop_id, customer_id, platform_order_id, name, "
                    "currency, subtotal, total_price, total_tax, total_discounts, "
                    "total_shipping, total_refunded, test, placed_at, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, 'USD', 45, 45, 0, 0, 0, 0, false, %s, now(), now())"
                    " RETURNING id", (shop_id, ids[f"c{n}"], platform_id, f"#{platform_id}",
                                      DAY)).fetchone()[0]
                lines.append((shop_id, order_ids[platform_id]))
            cur.executemany(
                "INSERT INTO order_lines (shop_id, order_id, product_id, title, quantity, "
                "price, total_discount) VALUES (%s, %s, '1', 'Kettle', 1, 45, 0)", lines)
            rows = []
            for flow_id, version, n, key, context, step_id, due in runs:
                if "order_key" in context:
                    context = {"order_id": order_ids[context.pop("order_key")], **context}
                rows.append((shop_id, flow_id, version, ids[f"c{n}"], key,
                             orjson.dumps(context).decode(), step_id, due))
            cur.executemany(
                "INSERT INTO flow_runs (shop_id, flow_id, version, customer_id, trigger_key, "
                "context, holdout, status, step_id, due_at, entered_at) VALUES "
                "(%s, %s, %s, %s, %s, %s::jsonb, false, 'active', %s, %s, %s)",
                [(*r, r[-1]) for r in rows])
        conn.execute("ANALYZE")
        return [(rid, due) for rid, due in conn.execute(
            "SELECT id, due_at FROM flow_runs WHERE shop_id = %s ORDER BY due_at, id",
            (shop_id,)).fetchall()]


# --------------------------------------------------------------------------- phases

def evaluate_steps(app, due_runs: list[tuple[int, datetime]],
                   on_commit=None) -> tuple[int, float]:
    """Evaluate each run's due step at its due time, in batches as the sweep does."""
    from app.db import db
    from app.flows import runner
    from app.flows.models import FlowRun

    started = time.perf_counter()
    with app.app_context(), db.new_session() as session:
        for i in range(0, len(due_runs), BATCH):
            chunk = due_runs[i:i + BATCH]
            runs = {r.id: r for r in session.query(FlowRun).filter(
                FlowRun.id.in_([rid for rid, _ in chunk]))}
            for rid, due in chunk:
                run = runs[rid]
                runner.advance(session, run, due)
            session.commit()
            if on_commit:
                on_commit()
    return len(due_runs), time.perf_counter() - started


def analyze_messages() -> None:
    """Statistics for the messages just written, as autovacuum keeps them for a store that
    has been sending: without them the planner takes the table for empty and reads every
    message handed over in the smart-sending window instead of the shoppers' own."""
    import psycopg

    with psycopg.connect(_plain(os.environ["DATABASE_URL"]), autocommit=True) as conn:
        conn.execute("ANALYZE messages")


def queued_messages(app) -> list[int]:
    from sqlalchemy import select

    from app.db import db
    from app.flows.models import QUEUED, Message

    with app.app_context(), db.new_session() as session:
        return list(session.scalars(select(Message.id).where(Message.status == QUEUED)
                                    .order_by(Message.created_at, Message.id)))


def count_sent(app) -> int:
    from sqlalchemy import func, select

    from app.db import db
    from app.flows.models import SENT, Message

    with app.app_context(), db.new_session() as session:
        return session.scalar(select(func.count()).where(Message.status == SENT))


def deliver_all(app) -> tuple[dict[str, int], float]:
    """One burst RQ worker (forking a work-horse per job, as in production) drains the
    delivery jobs the steps enqueued: each job delivers its batch on one SMTP connection."""
    from collections import Counter

    from rq import Worker
    from rq.serializers import JSONSerializer
    from sqlalchemy import func, select

    from app.db import db
    from app.flows.models import Message
    from app.flows.sending import SEND_QUEUE
    from app.queue import get_queue, get_redis

    with app.app_context():
        worker = Worker([get_queue(SEND_QUEUE)], connection=get_redis(),
                        serializer=JSONSerializer)
        started = time.perf_counter()
        worker.work(burst=True, logging_level="WARNING")
        elapsed = time.perf_counter() - started
        with db.new_session() as session:
            statuses = Counter(dict(session.execute(
                select(Message.status, func.count()).group_by(Message.status)).all()))
    return dict(statuses), elapsed


def prerendered_rate(app, count: int) -> float:
    """The sink's rate for ready messages on one reused connection: the limit."""
    from email.message import EmailMessage

    from app.email.transport import open_transport

    text, html = "plain text " * 40, "<html><body>" + "<p>rendered</p>" * 80 + "</body></html>"
    transport = open_transport(app)
    messages = []
    for n in range(count):
        msg = EmailMessage()
        msg["From"], msg["To"] = "Bench Store <hello@bench.example>", f"limit{n}@bench.example"
        msg["Subject"] = "Pre-rendered"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        messages.append(msg)
    started = time.perf_counter()
    for msg in messages:
        transport.send(msg)
    elapsed = time.perf_counter() - started
    transport.close()
    return count / elapsed if elapsed else 0.0


def delay_replay(app, due_runs: list[tuple[int, datetime]], rate: float,
                 seconds: float) -> list[float]:
    """The runs replayed in real time at `rate` steps a second: each step evaluated when it
    comes due (engine thread), its email delivered by one worker thread; the delays
    (sent - due) in seconds."""
    from sqlalchemy import select

    from app.db import db, utcnow
    from app.flows import delivery, runner
    from app.flows.models import FlowRun, Message

    runs = due_runs[:max(1, int(rate * seconds))]
    handed: queue.Queue = queue.Queue()
    delays: list[float] = []
    start = time.monotonic() + 0.5
    wall = utcnow() + timedelta(seconds=0.5)

    def engine() -> None:
        with app.app_context(), db.new_session() as session:
            for n, (rid, _) in enumerate(runs):
                due_in = start + n / rate - time.monotonic()
                if due_in > 0:
                    time.sleep(due_in)
                due = wall + timedelta(seconds=n / rate)
                run = session.get(FlowRun, rid)
                # The replay moves the run into real time: its step is due now.
                run.due_at = due
                runner.advance(session, run, due)
                session.commit()
                pk = session.scalar(select(Message.id).where(Message.run_id == rid))
                handed.put((pk, due))
            handed.put(None)

    def worker() -> None:
        # Delivers what has come due since its last batch, as one batch (a job carries the
        # messages of one commit), like the delivery jobs do.
        with app.app_context():
            finished = False
            while not finished:
                batch = [handed.get()]
                while not handed.empty():
                    batch.append(handed.get())
                finished = batch[-1] is None
                due_of = {pk: due for pk, due in filter(None, batch) if pk is not None}
                if not due_of:
                    continue
                statuses = delivery.deliver_many(list(due_of))
                now = utcnow()
                delays.extend((now - due_of[pk]).total_seconds()
                              for pk, status in statuses.items() if status == "sent")

    threads = [threading.Thread(target=engine), threading.Thread(target=worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return delays


class _SinkHandler:
    def __init__(self) -> None:
        self.received = 0
        self.ids: dict[bytes, int] = {}

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        match = _MESSAGE_ID.search(envelope.original_content or envelope.content)
        if match:
            key = match.group(1).strip()
            self.ids[key] = self.ids.get(key, 0) + 1
        return "250 OK"


def _sink_main(port: int, conn) -> None:
    """The SMTP sink: aiosmtpd in a thread of its own process, so parsing what it receives
    takes no time from the worker measured. Answers "report" with (received, duplicates)."""
    from aiosmtpd.controller import Controller

    handler = _SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    conn.send("ready")
    while (command := conn.recv()) != "stop":
        if command == "report":
            conn.send((handler.received, sum(1 for n in handler.ids.values() if n > 1)))
    controller.stop()


class Sink:
    def __init__(self) -> None:
        import multiprocessing

        from benchmarks.ingest import free_port

        self.port = free_port()
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_sink_main, args=(self.port, child), daemon=True)

    def start(self) -> None:
        self.process.start()
        assert self.conn.recv() == "ready"

    def report(self) -> tuple[int, int]:
        self.conn.send("report")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.process.join(10)


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> int:
    sink = Sink()
    sink.start()
    try:
        app = fresh_app(args)
        app.config["SMTP_URL"] = f"smtp://127.0.0.1:{sink.port}"
        t0 = time.perf_counter()
        shop_id = setup_store(app, args.customers)
        due_runs = plan_day(app, shop_id, args.customers, args.seed)
        print(f"store: {args.customers:,} customers, every built-in flow live, "
              f"{len(due_runs):,} runs planned in {time.perf_counter() - t0:.1f} s", flush=True)
        # The last slice of the day is kept for the real-time replay.
        replay_share = max(1, len(due_runs) // 10)
        day, tail = due_runs[:-replay_share], due_runs[-replay_share:]
        steps, step_seconds = evaluate_steps(app, day)
        analyze_messages()
        statuses, send_seconds = deliver_all(app)
        sent = statuses.get("sent", 0)
        email_rate = sent / send_seconds if send_seconds else 0.0
        limit_count = max(200, min(sent, 5000))
        limit = prerendered_rate(app, limit_count)
        replay_rate = max(1.0, email_rate / 2)
        delays = delay_replay(app, tail, replay_rate, args.latency_seconds)
        left = queued_messages(app)
        received, twice = sink.report()
        sent_total = count_sent(app)
    finally:
        sink.stop()
    ratio = email_rate / limit if limit else 0.0
    delay = p95(delays)
    print(f"steps evaluated (app.flows.runner.advance): {steps:,} in {step_seconds:.1f} s = "
          f"{steps / step_seconds:,.0f} steps/s")
    print(f"emails rendered and handed to the sink by one worker: {sent:,} in "
          f"{send_seconds:.1f} s = {email_rate:,.0f} emails/s (messages by status {statuses})")
    print(f"sink rate for pre-rendered messages (the limit): {limit:,.0f} emails/s; "
          f"ratio {ratio:.2f}")
    print(f"due-to-sent delay, {len(delays):,} steps replayed in real time at "
          f"{replay_rate:,.0f}/s: p95 {delay:.3f} s")
    problems = []
    if twice:
        problems.append(f"{twice} messages reached the sink more than once")
    if received != sent_total + limit_count:
        problems.append(f"the sink received {received:,} messages; {sent_total:,} were "
                        f"recorded sent and {limit_count:,} pre-rendered ones given")
    if left:
        problems.append(f"{len(left)} messages left queued")
    for name, aim, value, ok in (
            ("emails/s", AIMS["emails_per_second"], email_rate,
             email_rate >= AIMS["emails_per_second"]),
            ("ratio", AIMS["ratio"], ratio, ratio >= AIMS["ratio"]),
            ("p95 delay s", AIMS["p95_delay_seconds"], delay,
             delay < AIMS["p95_delay_seconds"])):
        print(f"aim {name}: {aim} -> {value:,.2f} {'met' if ok else 'MISSED'}")
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-seconds", type=float, default=20.0,
                        help="length of the real-time replay measuring due-to-sent delay")
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
                        help="PostgreSQL database to reset and use (env BENCH_DATABASE_URL)")
    parser.add_argument("--redis-url",
                        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
                        help="Redis database to FLUSH and use (env BENCH_REDIS_URL)")
    args = parser.parse_args(argv)
    if args.customers < 100:
        parser.error("--customers must be at least 100")
    os.chdir(ROOT)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
