"""Analytics benchmark: store KPIs, a segment count, the RFM refresh and the BG/NBD +
Gamma-Gamma refit on a 1,000,000-customer store, and the CDNOW fit next to `lifetimes`.

    python benchmarks/analytics.py --database-url postgresql://USER@HOST/DB    # 1M / 5M
    python benchmarks/analytics.py --only cdnow                              # seconds
    python benchmarks/analytics.py --customers 2000 --orders 10000 --database-url ...

A benchmark, not a test (see benchmarks/README.md). The store is the panel benchmark's
generated store (`benchmarks/panel_store.py`: made inside PostgreSQL, reused when the database
already holds one of the same size, seed and generator version). Each figure is printed with
the time of a baseline measured in the same run on the same data: a plain count of the
store's orders or customers, or the same question written as one SQL statement by hand.
Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/analytics.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.panel_store import StoreSpec, find_store, require_postgresql  # noqa: E402
from benchmarks.report import cpu_model  # noqa: E402

AIMS = {"dashboard": 1.0, "segment": 1.0, "refit": 30.0}

# ---------------------------------------------------------------------------------------
# The three-rule segment, in app.segments.rules' language: total spent over 100, last order
# within the last 180 days, country US. The baseline below asks the same question in SQL;
# both counts are printed, and must be equal.
SEGMENT_RULES = {"all": [
    {"field": "total_spent", "op": "gt", "value": "100"},
    {"field": "last_order_at", "op": "within_last_days", "value": 180},
    {"field": "country_code", "op": "eq", "value": "US"},
]}
SEGMENT_SQL = """
SELECT count(*) FROM customers
WHERE shop_id = :s AND deleted_at IS NULL AND total_spent > 100
  AND last_order_at >= :now - interval '180 days' AND country_code = 'US'"""
# ---------------------------------------------------------------------------------------

COUNT_ORDERS = "SELECT count(*) FROM orders WHERE shop_id = :s"
COUNT_CUSTOMERS = "SELECT count(*) FROM customers WHERE shop_id = :s"
# What RFM scoring reads, written by hand: the three quintiles of every buyer, not stored.
RFM_SQL = """
SELECT count(*), sum(r + f + m) FROM (
    SELECT ntile(5) OVER (ORDER BY last_order_at) AS r, ntile(5) OVER (ORDER BY orders_count) AS f,
           ntile(5) OVER (ORDER BY total_spent) AS m
    FROM customers WHERE shop_id = :s AND deleted_at IS NULL AND orders_count > 0) q"""
# What a BG/NBD + Gamma-Gamma fit reads, written by hand: per customer, the days with a counted
# order, the first and last of them, and the spend by day (two hash aggregates over the orders;
# `count(DISTINCT ...)` would sort, 3 times slower).
SUMMARY_SQL = """
SELECT count(*), sum(days) FROM (
    SELECT customer_id, count(*) AS days, min(day), max(day), sum(spent)
    FROM (SELECT customer_id, placed_at::date AS day, sum(total_price - total_refunded) AS spent
          FROM orders WHERE shop_id = :s AND customer_id IS NOT NULL AND cancelled_at IS NULL
                        AND NOT test AND (financial_status IS NULL OR financial_status <> 'voided')
          GROUP BY customer_id, placed_at::date) AS by_day
    GROUP BY customer_id) q"""
# The hand-written statements run as a tuned query would: no JIT compilation (PostgreSQL's
# estimate starts it on these aggregates, for nothing), and memory to hash and sort in.
BASELINE_SETTINGS = ("jit = off", "work_mem = '256MB'")


def _say_to(stream) -> Callable[[str], None]:
    return lambda line: print(line, file=stream, flush=True)


def _timed(session, work: Callable[[], object], repeat: int) -> tuple[list[float], object]:
    """Seconds of each of `repeat` calls of `work`, each in a transaction of its own (rolled
    back: these only read), and the last call's result."""
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
        session.rollback()
    return seconds, result


def _figure(seconds: list[float], base: float | None = None) -> dict:
    median = statistics.median(seconds)
    return {"seconds": median, "best": min(seconds), "first": seconds[0], "runs": len(seconds),
            "ratio": (median / base) if base else None}


def _line(say, label: str, fig: dict, base_label: str = "", aim: float | None = None,
          extra: str = "") -> None:
    ratio = f"  {fig['ratio']:6.1f} x {base_label}" if fig.get("ratio") else ""
    verdict = "" if aim is None else (
        f"  (aim {aim:g} s: {'met' if fig['seconds'] < aim else 'MISSED'})")
    say(f"  {label:<44} {fig['seconds']:8.3f} s (best {fig['best']:.3f}, first "
        f"{fig['first']:.3f}, {fig['runs']} runs){ratio}{verdict}{extra}")


def machine(session) -> dict:
    from sqlalchemy import text

    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
            "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2),
            "postgresql": session.execute(text("SHOW server_version")).scalar(),
            "python": sys.version.split()[0]}


def prepare(app, spec: StoreSpec, skip_generate: bool, stream) -> tuple[int, float | None]:
    from app.db import db
    from benchmarks.panel import prepare_store

    if skip_generate:
        with app.app_context():
            shop_id = find_store(db.session, spec)
        if shop_id is None:
            raise SystemExit(f"--skip-generate: the database has no {spec.domain} of this seed "
                             "and generator version; run once without it")
        return shop_id, None
    import contextlib

    # The generator prints its steps as they end: to where the report goes (stderr with --json).
    with contextlib.redirect_stdout(stream):
        return prepare_store(app, spec)


def measure_store(app, shop_id: int, repeat: int, say) -> dict:
    from sqlalchemy import text

    from app.analytics.periods import parse_period
    from app.db import db
    from app.settings.timezone import shop_zone
    from app.shops.models import Shop
    from benchmarks.panel_store import store_counts

    results: dict = {}
    with app.app_context():
        session = db.session
        shop = session.get(Shop, shop_id)
        results["machine"] = machine(session)
        results["counts"] = store_counts(session, shop_id)
        now = datetime.now(UTC)

        def scalar(sql: str, **values):
            def work():
                for setting in BASELINE_SETTINGS:
                    session.execute(text(f"SET LOCAL {setting}"))
                return session.execute(text(sql), {"s": shop_id, **values}).one()
            return work

        t, _ = _timed(session, scalar(COUNT_ORDERS), repeat)
        results["count_orders"] = _figure(t)
        t, _ = _timed(session, scalar(COUNT_CUSTOMERS), repeat)
        results["count_customers"] = _figure(t)
        orders_base = results["count_orders"]["seconds"]
        customers_base = results["count_customers"]["seconds"]
        m = results["machine"]
        say(f"machine    {m['cores']} CPUs ({m['cpu']}), PostgreSQL {m['postgresql']}, "
            f"Python {m['python']}, load average {m['load_average']:.2f}, {m['date']}")
        say("store      " + ", ".join(f"{v:,} {k.replace('_', ' ')}"
                                      for k, v in results["counts"].items()))
        say("baselines (median of runs; hand-written SQL with "
            + ", ".join(BASELINE_SETTINGS) + ")")
        _line(say, "SELECT count(*) of the store's orders", results["count_orders"])
        _line(say, "SELECT count(*) of the store's customers", results["count_customers"])

        period = parse_period(shop_zone(session, shop), preset="last_12_months")
        results["period"] = [period.first_day.isoformat(), period.last_day.isoformat()]
        say(f"dashboard KPIs, {period.first_day} to {period.last_day} ({period.interval}s)")
        from app.analytics.metrics import store_metrics

        t, _ = _timed(session, lambda: store_metrics(session, shop, period), repeat)
        results["store_metrics"] = _figure(t, orders_base)
        _line(say, "app.analytics.metrics.store_metrics", results["store_metrics"],
              "count(orders)", AIMS["dashboard"])
        from app.analytics.kpis import metrics_json

        t, _ = _timed(session, lambda: metrics_json(session, shop, period), repeat)
        results["metrics_json"] = _figure(t, orders_base)
        _line(say, "app.analytics.kpis.metrics_json", results["metrics_json"], "count(orders)",
              AIMS["dashboard"])

        say("segment count: total spent > 100, last order within 180 days, country US")
        t, row = _timed(session, scalar(SEGMENT_SQL, now=now), repeat)
        results["segment_sql"] = {**_figure(t, customers_base), "count": row[0],
                                  "now": now.isoformat()}
        _line(say, "the same count in one SQL statement", results["segment_sql"],
              "count(customers)", extra=f"  -> {row[0]:,} customers")
        from app.segments.rules import count_matching

        t, n = _timed(session, lambda: count_matching(session, shop, SEGMENT_RULES, now=now),
                      repeat)
        results["count_matching"] = {**_figure(t, results["segment_sql"]["seconds"]),
                                     "count": n, "same_as_sql": n == row[0]}
        extra = f"  -> {n:,} customers ({'= SQL' if n == row[0] else 'DIFFERS from SQL'})"
        _line(say, "app.segments.rules.count_matching", results["count_matching"],
              "the SQL", AIMS["segment"], extra)

        results.update(_writes(session, shop_id, customers_base, orders_base, scalar, say))
    return results


def _writes(session, shop_id: int, customers_base: float, orders_base: float, scalar,
            say) -> dict:
    """The RFM refresh and the refit: once each (they write), next to the SQL that reads what
    they read."""
    out: dict = {}
    say("RFM refresh (every buyer's quintiles and segment, written)")
    t, row = _timed(session, scalar(RFM_SQL), 1)
    out["rfm_sql"] = {**_figure(t, customers_base), "buyers": row[0]}
    _line(say, "the three quintiles in one SQL statement", out["rfm_sql"], "count(customers)",
          extra=f"  -> {row[0]:,} buyers (read only)")
    from app.analytics.rfm import refresh_shop

    out["refresh_shop"] = _once(session, refresh_shop, shop_id, out["rfm_sql"]["seconds"])
    _line(say, "app.analytics.rfm.refresh_shop", out["refresh_shop"], "the SQL")

    say("predictions: BG/NBD + Gamma-Gamma fit and scoring of every customer")
    t, row = _timed(session, scalar(SUMMARY_SQL), 1)
    out["summary_sql"] = {**_figure(t, orders_base), "buyers": row[0],
                          "purchase_days": int(row[1] or 0)}
    _line(say, "per-customer summary in one SQL statement", out["summary_sql"], "count(orders)",
          extra=f"  -> {row[0]:,} buyers, {int(row[1] or 0):,} purchase days (read only)")
    from app.predictions.service import refit

    out["refit"] = _once(session, lambda s, i: refit(s, i, as_of=None), shop_id,
                         out["summary_sql"]["seconds"])
    _line(say, "app.predictions.service.refit", out["refit"], "the SQL", AIMS["refit"])
    return out


def _once(session, work, shop_id: int, base: float) -> dict:
    """One call of a writing job, its commit included."""
    started = time.perf_counter()
    work(session, shop_id)
    session.commit()
    return _figure([time.perf_counter() - started], base)


def run(args: argparse.Namespace) -> dict:
    out = sys.stderr if args.json else sys.stdout
    say = _say_to(out)
    say(f"analytics benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, "
        f"{' '.join(sys.argv[1:]) or 'no options'}")
    results: dict = {"options": {k: v for k, v in vars(args).items() if k != "database_url"},
                     "machine": {"cpu": cpu_model(), "cores": os.cpu_count(),
                                 "python": sys.version.split()[0],
                                 "load_average": round(os.getloadavg()[0], 2)}}
    m = results["machine"]
    say(f"machine    {m['cores']} CPUs ({m['cpu']}), Python {m['python']}, load average "
        f"{m['load_average']:.2f}")
    if args.only in (None, "store"):
        results["store"] = run_store(args, out)
    if args.only in (None, "cdnow"):
        from benchmarks.analytics_cdnow import run as run_cdnow

        say("\nCDNOW: Sticky's fit next to lifetimes' fit of the same summary")
        results["cdnow"] = run_cdnow(args.repeat, say=say)
        say(f"machine    load average after {os.getloadavg()[0]:.2f}")
    return results


def run_store(args: argparse.Namespace, stream) -> dict:
    from app import create_app
    from app.db import db
    from benchmarks.panel import _create_database_if_missing

    say = _say_to(stream)
    url = require_postgresql(args.database_url)
    spec = StoreSpec(args.customers, args.orders, args.seed)
    _create_database_if_missing(url)
    instance = tempfile.mkdtemp(prefix="sticky-analytics-bench-")
    app = create_app({"DATABASE_URL": url, "REDIS_URL": args.redis_url,
                      "INSTANCE_PATH": instance, "SECRET_KEY": "analytics-bench"})
    try:
        started = time.perf_counter()
        shop_id, generated = prepare(app, spec, args.skip_generate, stream)
        say(f"store      {spec.domain} (shop {shop_id}): "
            + (f"generated in {generated:.1f} s" if generated is not None
               else f"reused, found in {time.perf_counter() - started:.1f} s"))
        results = {"domain": spec.domain, "shop_id": shop_id, "generated_seconds": generated,
                   **measure_store(app, shop_id, args.repeat, say)}
        with app.app_context():
            results["machine"]["load_average_after"] = round(os.getloadavg()[0], 2)
        say(f"machine    load average after {results['machine']['load_average_after']:.2f}")
        return results
    finally:
        with app.app_context():
            db.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL")
                        or os.environ.get("DATABASE_URL"),
                        help="PostgreSQL, for the store part (or BENCH_DATABASE_URL)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL")
                        or os.environ.get("REDIS_URL"))
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed runs of each read (median printed); fits: best of")
    parser.add_argument("--skip-generate", action="store_true",
                        help="use the generated store already there; never generate")
    parser.add_argument("--only", choices=("cdnow", "store"))
    parser.add_argument("--json", action="store_true",
                        help="the figures as JSON on stdout (the report goes to stderr)")
    args = parser.parse_args(argv)
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=1, default=str))
    # Checks, not aims: a segment count that differs from the same question in SQL, or a
    # CDNOW summary that is not the published one, fails the run (exit status 1).
    segment = results.get("store", {}).get("count_matching")
    wrong_count = isinstance(segment, dict) and not segment["same_as_sql"]
    wrong_summary = "cdnow" in results and not results["cdnow"]["summary_matches_published"]
    return 1 if wrong_count or wrong_summary else 0


if __name__ == "__main__":
    sys.exit(main())
