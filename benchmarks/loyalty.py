"""Loyalty benchmark: a million ledger-affecting webhook events through the real drain, with
the program enabled and disabled, then the time to recompute every balance from the ledger.

    python benchmarks/loyalty.py [--events 1000000] [--members 100000] [--slices 10]
                                 [--database-url URL] [--redis-url URL] [--seed 7]
                                 [--profile DIR]
    python benchmarks/loyalty.py --recompute-only [--members 100000] [--orders-each 10]

A benchmark, not a test (see benchmarks/README.md). Destructive on its targets: it recreates
the database's public schema and flushes the Redis db. Two Shopify stores share the
database: one with the program disabled, one with a realistic program (1 point per unit,
no return window, three tiers by spend, a first-order bonus). The same deliveries
(benchmarks/loyalty_workload.py) are stored in both inboxes, a slice at a time, as the
receiver stores them; then one burst RQ worker drains each store in turn (the store that
goes first alternates by slice, so both see the database at the same size): the profile
store applies the deliveries and publishes domain events, the dispatcher hands them to the
loyalty subscriber. A store's time runs from the drain request until its inbox is drained
and the loyalty cursor is at its log's head. Exit status 1 if a check fails.
Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import os
import platform as host_platform
import pstats
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import loyalty_checks as checks  # noqa: E402 - needs ROOT on sys.path
from benchmarks.loyalty_workload import LoyaltyStream  # noqa: E402
from benchmarks.report import cpu_model  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sticky_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SHOPS = {"off": "loyalty-off.myshopify.com", "on": "loyalty-on.myshopify.com"}
PROGRAMS = {
    "off": {"enabled": False},
    "on": {"enabled": True, "points_per_unit": "1", "award_on": "paid", "pending_days": 0,
           "first_order_points": 100, "tier_basis": "spend", "tier_period": "rolling_12_months",
           "tiers": [{"name": "Bronze", "threshold": "0", "multiplier": "1"},
                     {"name": "Silver", "threshold": "500", "multiplier": "1.25"},
                     {"name": "Gold", "threshold": "1500", "multiplier": "1.5"}]},
}
COPY_ROWS = 2000  # deliveries per COPY into the inbox
PROGRESS_SECONDS = 15


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def connect(url: str):
    import psycopg

    return psycopg.connect(_plain(url), autocommit=True)


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
    app = create_app()
    get_redis(app).flushdb()
    upgrade(app)
    logging.getLogger().setLevel(logging.WARNING)  # alembic's INFO lines
    return app


def setup_shops(app) -> dict[str, int]:
    """Both stores connected, each with its program saved."""
    from app.db import db
    from app.loyalty.program import save_program
    from app.shops.service import connect_shopify_by_token

    shop_ids = {}
    with app.app_context():
        for label, domain in SHOPS.items():
            shop = connect_shopify_by_token(db.session, domain, f"shpat_bench_{label}")
            db.session.flush()
            save_program(db.session, shop.id, PROGRAMS[label], saved_by="benchmark")
            shop_ids[label] = shop.id
        db.session.commit()
        db.session.close()
    return shop_ids


def store_slice(conn, shop_ids: list[int], deliveries) -> int:
    """Store deliveries in both inboxes as pending rows (what the receiver commits), COPY_ROWS
    at a time; returns how many deliveries."""
    now = datetime.now(UTC)
    stored = 0
    columns = "shop_id, topic, delivery_key, payload, status, attempts, received_at"
    for chunk in iter(lambda: list(itertools.islice(deliveries, COPY_ROWS)), []):
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY inbox ({columns}) FROM STDIN") as copy:
                for shop_id in shop_ids:
                    for d in chunk:
                        copy.write_row((shop_id, d.topic, d.key, d.body, "pending", 0, now))
        stored += len(chunk)
    return stored


# --------------------------------------------------------------------------- draining

def _watch(url: str, shop_id: int, label: str, total: int, started: float,
           stop: threading.Event) -> None:
    """Print the drain's progress every PROGRESS_SECONDS (its own connection)."""
    with connect(url) as conn:
        while not stop.wait(PROGRESS_SECONDS):
            pending, behind = checks.drained(conn, shop_id)
            print(f"    [{label}] {total - pending:,} of {total:,} deliveries applied, loyalty "
                  f"{behind:,} events behind, {time.perf_counter() - started:.0f} s",
                  flush=True)


def drain(app, args, conn, shop_id: int, label: str, total: int,
          profiler: cProfile.Profile | None) -> float:
    """Request the shop's drain and run one burst worker until the inbox is drained and the
    loyalty cursor is at the log's head; returns the seconds it took."""
    from rq import SimpleWorker, Worker
    from rq.serializers import JSONSerializer

    from app.db import db
    from app.events.queueing import request_dispatch
    from app.inbox.queueing import request_drain
    from app.loyalty.writeback import requested_flag
    from app.queue import QUEUE_NAMES, get_queue, get_redis
    from benchmarks.stub_http import stubbed

    with app.app_context(), stubbed({}):  # nothing leaves the machine
        # The write-back of balances and tiers to the platform is a job of its own, after
        # the ledger's commit; it is not what is measured. With its request flag set, the
        # members are still marked due in the ledger's transaction but no job is queued.
        get_redis().set(requested_flag(shop_id), 1, ex=7 * 24 * 3600)
        db.engine.dispose()  # a forked work-horse must not share the parent's connections
        queues = [get_queue(name) for name in QUEUE_NAMES]
        started = time.perf_counter()
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, daemon=True,
                                   args=(args.database_url, shop_id, label, total, started, stop))
        watcher.start()
        try:
            request_drain(shop_id)
            for _ in range(5):  # a burst worker stops when the queues are empty; once is normal
                # Profiled: jobs run in this process, where cProfile sees them.
                kind = SimpleWorker if profiler else Worker
                worker = kind(queues, connection=get_redis(), serializer=JSONSerializer)
                if profiler:
                    profiler.enable()
                worker.work(burst=True, logging_level="WARNING")
                if profiler:
                    profiler.disable()
                pending, behind = checks.drained(conn, shop_id)
                if not pending and not behind or _failed(conn, shop_id):
                    break
                request_drain(shop_id, force=True) if pending else request_dispatch(
                    shop_id, force=True)
            return time.perf_counter() - started
        finally:
            stop.set()
            watcher.join()


def _failed(conn, shop_id: int) -> bool:
    return bool(checks.one(conn, "SELECT count(*) FROM event_cursors WHERE shop_id = %(s)s"
                                 " AND failed_event_id IS NOT NULL", {"s": shop_id}))


# --------------------------------------------------------------------------- recomputing

def time_recompute(app, shop_id: int) -> list[tuple[str, float, str]]:
    """(what, seconds, note) for the ledger's recompute and the tiers' (if the tiers offer
    one), each in its own committed transaction."""
    from app.db import db
    from app.loyalty import ledger, tiers
    from app.loyalty.program import read_program
    from app.shops.models import Shop

    timings = []
    with app.app_context():
        session = db.session
        started = time.perf_counter()
        members = ledger.recompute(session, shop_id)
        session.commit()
        timings.append(("ledger.recompute (balances, pending, earned)",
                        time.perf_counter() - started, f"{members:,} members rewritten"))
        evaluate = getattr(tiers, "recompute", None) or getattr(tiers, "review", None)
        if evaluate is None:
            timings.append(("tiers", 0.0, "app/loyalty/tiers.py offers no recompute yet"))
        else:
            shop = session.get(Shop, shop_id)
            program = read_program(session, shop_id)
            started = time.perf_counter()
            if evaluate.__name__ == "review":
                result = evaluate(session, shop, program, datetime.now(UTC))
            else:
                result = evaluate(session, shop_id)
            session.commit()
            timings.append((f"tiers.{evaluate.__name__} (every member's tier)",
                            time.perf_counter() - started, f"{result}"))
        session.close()
    return timings


# --------------------------------------------------------------------------- a run

def machine_line(conn) -> str:
    pg = checks.one(conn, "SHOW server_version", {})
    sync = checks.one(conn, "SHOW synchronous_commit", {})
    return (f"{cpu_model()}, {os.cpu_count()} CPUs, PostgreSQL {pg} (synchronous_commit="
            f"{sync}), {host_platform.python_implementation()} "
            f"{host_platform.python_version()}")


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def run(args: argparse.Namespace) -> int:
    app = fresh_app(args)
    shop_ids = setup_shops(app)
    if args.recompute_only:
        from benchmarks import loyalty_recompute

        conn = connect(args.database_url)
        print(f"machine: {machine_line(conn)}\nat start: {load_line()}", flush=True)
        failed = loyalty_recompute.run(args, app, conn, shop_ids["on"], time_recompute)
        print(f"at end: {load_line()}")
        conn.close()
        return failed
    import jobs.events  # noqa: F401 - imported once here, not in every forked work-horse
    import jobs.ingest  # noqa: F401
    from app.loyalty.handling import HANDLERS

    conn = connect(args.database_url)
    print(f"machine: {machine_line(conn)}\nat start: {load_line()}", flush=True)
    handled = sorted(kind for kind, handlers in HANDLERS.items() if handlers)
    print("loyalty handlers registered for: " + (", ".join(handled) or "nothing yet"))
    stream = LoyaltyStream(args.events, args.members, seed=args.seed)
    deliveries = iter(stream)
    slices = max(1, min(args.slices, args.events))
    seconds = {"off": 0.0, "on": 0.0}
    profilers = {label: cProfile.Profile() for label in SHOPS} if args.profile else {}
    done = 0
    for n in range(slices):
        size = args.events * (n + 1) // slices - done
        started = time.perf_counter()
        stored = store_slice(conn, [shop_ids["off"], shop_ids["on"]],
                             itertools.islice(deliveries, size))
        done += stored
        print(f"slice {n + 1}/{slices}: generated and stored {stored:,} deliveries in both "
              f"inboxes in {time.perf_counter() - started:.0f} s "
              f"({done:,} of {args.events:,})", flush=True)
        order = ("off", "on") if n % 2 == 0 else ("on", "off")
        line = []
        for label in order:
            took = drain(app, args, conn, shop_ids[label], label, stored,
                         profilers.get(label))
            seconds[label] += took
            line.append(f"{label} {stored / took:,.0f} events/s")
        print(f"slice {n + 1}/{slices}: " + ", ".join(line) + f"; {load_line()}", flush=True)
    print(f"at end: {load_line()}")
    problems = report(args, app, conn, shop_ids, stream, seconds)
    for label, profiler in profilers.items():
        path = Path(args.profile) / f"loyalty-{label}.prof"
        path.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(path)
        print(f"\nprofile of the program {label}: {path} (top 25 by own time)")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    conn.close()
    if problems:
        print("\nCHECKS FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("\nall checks passed")
    return 0


def report(args, app, conn, shop_ids: dict[str, int], stream: LoyaltyStream,
           seconds: dict[str, float]) -> list[str]:
    from app.loyalty.handlers import HANDLER_MODULES

    tally = stream.tally
    print(f"\n{args.events:,} ledger-affecting events for {len(tally.members_seen):,} members: "
          + ", ".join(f"{n:,} {topic}" for topic, n in sorted(tally.topics.items())))
    rates = {label: args.events / seconds[label] for label in SHOPS}
    for label in ("off", "on"):
        print(f"  program {'enabled ' if label == 'on' else 'disabled'}: "
              f"{seconds[label]:8.1f} s  {rates[label]:8,.0f} events/s")
    ratio = rates["on"] / rates["off"]
    print(f"  ratio enabled / disabled: {ratio:.3f} (aim: at least 0.75)")
    problems = []
    for label in ("off", "on"):
        shop_id = shop_ids[label]
        found = checks.counts(conn, shop_id)
        print(f"  {label}: " + ", ".join(f"{v:,} {k}" for k, v in found.items()))
        problems += [f"program {label}: {p}"
                     for p in checks.delivery_problems(conn, shop_id, args.events)]
        problems += [f"program {label}: {p}" for p in checks.balance_problems(conn, shop_id)]
        if label == "off" and found["entries"]:
            problems.append(f"program off: {found['entries']} ledger entries were written")
    if "app.loyalty.earning" in HANDLER_MODULES:
        problems += [f"program on: {p}" for p in checks.award_problems(conn, shop_ids["on"])]
    else:
        print("  (the earning handlers are not registered: the award check is skipped)")
    print("\nrecomputing the enabled store from its ledger ...", flush=True)
    for what, took, note in time_recompute(app, shop_ids["on"]):
        print(f"  {what}: {took:.2f} s ({note})")
    problems += [f"after recompute: {p}" for p in checks.balance_problems(conn, shop_ids["on"])]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="ledger-affecting events (= deliveries) per store")
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--slices", type=int, default=10,
                        help="the workload is stored and drained in this many slices, "
                             "alternating which store goes first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", metavar="DIR", default=None,
                        help="run the jobs in this process under cProfile (no fork) and "
                             "write loyalty-on.prof / loyalty-off.prof to DIR")
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
                        help="PostgreSQL database to reset and use (env BENCH_DATABASE_URL)")
    parser.add_argument("--redis-url",
                        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
                        help="Redis database to FLUSH and use (env BENCH_REDIS_URL)")
    parser.add_argument("--recompute-only", action="store_true",
                        help="no drain: bulk-load --members members (--orders-each paid orders "
                             "and their ledger entries each) with SQL and time the recompute "
                             "(benchmarks/loyalty_recompute.py)")
    parser.add_argument("--orders-each", type=int, default=10,
                        help="with --recompute-only: orders per member")
    args = parser.parse_args(argv)
    if args.recompute_only:
        args.events = max(args.events, args.members)
    if args.events < 1 or args.members < 1:
        parser.error("--events and --members must be at least 1")
    if args.members > args.events:
        parser.error("--members must not exceed --events (each member's first order is one)")
    os.chdir(ROOT)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
