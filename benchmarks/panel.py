"""Panel speed benchmark: the admin pages and their /api twins on a 100,000-customer store.

    python benchmarks/panel.py [--customers 100000] [--orders 500000] [--repeat 30]
    python benchmarks/panel.py --quick              # 2,000 customers, 10,000 orders, 3 repeats
    python benchmarks/panel.py --explain            # plus EXPLAIN ANALYZE of the slow statements

A benchmark, not a test (see benchmarks/README.md). It fills a PostgreSQL database with one
generated store (`benchmarks/panel_store.py`; reused on later runs), then times the panel's
pages and the `/api` routes in-process through Flask's test client, signed in on the
standalone door (a real sign-in: `/admin/login` with its CSRF token, then the store chosen) or
with an API key. The time of a request is the server's own: from the WSGI call to the end of
its body (there is no network in between). Beside them, in the same run, trivial requests on
the same stack: the baselines each page is divided by. Importing this module has no side
effects.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/panel.py`
    sys.path.insert(0, str(ROOT))

from benchmarks.page_timing import (  # noqa: E402 - needs the path above
    Page,
    ServerClock,
    explain,
    machine,
    measure,
    report,
)
from benchmarks.panel_store import (  # noqa: E402 - needs the path above
    StoreSpec,
    figure_mismatches,
    find_store,
    generate_store,
    other_stores,
    require_postgresql,
    store_counts,
)

ACCOUNT_EMAIL = "owner@panel-bench.example.com"
ACCOUNT_PASSWORD = "panel-bench-password"  # noqa: S105 - a local benchmark's account
AIM_MS = 300
QUICK = {"customers": 2_000, "orders": 10_000, "repeat": 3}
PANEL_BASELINE = "/__bench/panel-layout"
API_BASELINE = "/__bench/api-key"


def bench_app(database_url: str, redis_url: str | None, instance: str):
    """The real app, plus the two baseline routes (they exist only in this benchmark)."""
    from flask import jsonify, render_template
    from jinja2 import ChoiceLoader, DictLoader

    from app import create_app
    from app.api.auth import require_shop
    from app.panel.door import panel_page

    app = create_app({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "INSTANCE_PATH": instance,
        "SECRET_KEY": "panel-bench", "APP_URL": "http://localhost",
        # One sign-in a run; repeated runs must not hit the sign-in rate limit.
        "LOGIN_RATE_LIMIT": "1000 per minute",
    })

    # A named template, so Jinja compiles it once, as it does the pages' own.
    app.jinja_env.loader = ChoiceLoader([DictLoader({"bench/frame.html": (
        '{% extends "panel/layout.html" %}{% block title %}Baseline{% endblock %}'
        "{% block page %}{% endblock %}")}), app.jinja_env.loader])

    @panel_page
    def panel_layout():
        # The frame every page shares (door, session, account, navigation), no query of its own.
        return render_template("bench/frame.html")

    def api_key_only():
        refused = require_shop()  # the /api blueprint's own authentication
        return refused if refused is not None else jsonify({})

    app.add_url_rule(PANEL_BASELINE, "bench_panel_layout", panel_layout)
    app.add_url_rule(API_BASELINE, "bench_api_key", api_key_only)
    return app


def sign_in(app, shop_id: int):
    """A test client signed in on the standalone door with the store chosen, as a merchant
    does it: the account (created or reset here), `/admin/login`, `/admin/stores/select`."""
    from sqlalchemy import select

    from app.accounts.models import Account
    from app.accounts.service import create_account, link_account_to_shop, set_password
    from app.db import db

    with app.app_context():
        session = db.session
        account = session.execute(select(Account).where(
            Account.email_normalized == ACCOUNT_EMAIL)).scalar_one_or_none()
        if account is None:
            account = create_account(session, ACCOUNT_EMAIL, ACCOUNT_PASSWORD)
        else:
            set_password(account, ACCOUNT_PASSWORD)
        link_account_to_shop(session, account.id, shop_id)
        session.commit()
    client = app.test_client()

    def csrf(path: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"',
                          client.get(path).get_data(as_text=True))
        if not found:
            raise SystemExit(f"no CSRF token on {path}: cannot sign in")
        return found.group(1)

    login = client.post("/admin/login", data={"email": ACCOUNT_EMAIL, "password": ACCOUNT_PASSWORD,
                                              "csrf_token": csrf("/admin/login")})
    chosen = client.post("/admin/stores/select", data={"shop_id": shop_id,
                                                       "csrf_token": csrf("/admin/stores")})
    if login.status_code != 302 or chosen.status_code != 302:
        raise SystemExit(f"sign-in failed: /admin/login {login.status_code}, "
                         f"/admin/stores/select {chosen.status_code}")
    return client


class _Authorized:
    """A test client sending `Authorization` with every request."""

    def __init__(self, client, authorization: str) -> None:
        self.client, self.authorization = client, authorization

    def get(self, path: str):
        return self.client.get(path, headers={"Authorization": self.authorization})


def pages_for(spec: StoreSpec, facts: dict) -> tuple[list[Page], list[Page]]:
    """(baselines, pages) for this store's facts."""
    deep = facts["deep_page"]
    term, heavy = facts["search"], facts["heavy_id"]
    today = facts["today"]
    year_ago = today - timedelta(days=365)
    baselines = [
        Page("/healthz: SELECT 1 + Redis PING, no session", "/healthz", "none"),
        Page("panel frame: signed in, layout, no query", PANEL_BASELINE, "panel"),
        Page("/api frame: API key checked, {}", API_BASELINE, "api"),
    ]
    pages = [
        Page("dashboard", "/admin", "panel"),
        Page("dashboard, last 12 months", "/admin?range=last_12_months", "panel"),
        Page("customers, first page", "/admin/customers", "panel"),
        Page(f"customers, search {term!r}", f"/admin/customers?q={term}", "panel"),
        Page(f"customers by total spent, page {deep:,}",
             f"/admin/customers?sort=-total_spent&page={deep}", "panel"),
        Page(f"profile ({facts['heavy_orders']} orders)", f"/admin/customers/{heavy}", "panel"),
        Page("GET /api/customers", "/api/customers", "api"),
        Page(f"GET /api/customers, search {term!r}", f"/api/customers?q={term}", "api"),
        Page(f"GET /api/customers, page {deep:,}", f"/api/customers?page={deep}", "api"),
        Page(f"GET /api/customers/<id> ({facts['heavy_orders']} orders)",
             f"/api/customers/{heavy}", "api"),
        Page("GET /api/metrics", "/api/metrics", "api"),
        Page("GET /api/metrics, last 12 months",
             f"/api/metrics?from={year_ago.isoformat()}&to={today.isoformat()}", "api"),
    ]
    return baselines, pages


def store_facts(session, shop_id: int, spec: StoreSpec) -> dict:
    """What the pages are asked about: the busiest customer, a search, a deep page."""
    from sqlalchemy import text

    heavy_id, heavy_orders, last_name = session.execute(text(
        "SELECT id, orders_count, last_name FROM customers WHERE shop_id = :s "
        "AND deleted_at IS NULL ORDER BY orders_count DESC, id LIMIT 1"), {"s": shop_id}).one()
    term = last_name[:4].lower()  # part of a real name, as a merchant types it
    matches = session.execute(text(
        "SELECT count(*) FROM customers WHERE shop_id = :s AND deleted_at IS NULL AND ("
        "email_normalized LIKE :p OR lower(first_name) LIKE :p OR lower(last_name) LIKE :p)"),
        {"s": shop_id, "p": f"%{term}%"}).scalar_one()
    return {"heavy_id": heavy_id, "heavy_orders": heavy_orders, "search": term,
            "search_matches": matches, "deep_page": max(1, spec.customers // 100),
            "today": datetime.now(UTC).date(), **store_counts(session, shop_id)}


def _create_database_if_missing(url: str) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    name = conninfo_to_dict(plain).get("dbname")
    if not name:
        raise SystemExit(f"--database-url {url!r} names no database")
    with psycopg.connect(make_conninfo(plain, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare_store(app, spec: StoreSpec) -> tuple[int, float | None]:
    """The store's id, generating it unless this database already has it; and the seconds
    generation took (None when reused)."""
    from sqlalchemy import text

    from app.db import db
    from app.migrate import upgrade

    with app.app_context():
        upgrade(app)
        session = db.session
        shop_id = find_store(session, spec)
        if shop_id is not None:
            return shop_id, None
        if session.execute(text("SELECT 1 FROM shops WHERE domain = :d"),
                           {"d": spec.domain}).first():
            raise SystemExit(f"{spec.domain} was generated with another seed or another "
                             "version of the generator: pass --regenerate")
        others = other_stores(session)
        if others:
            raise SystemExit(
                f"this database holds other stores ({', '.join(others[:3])}"
                f"{', ...' if len(others) > 3 else ''}): the benchmark will not add a "
                f"{spec.customers:,}-customer store beside them. Use a database of its own, or "
                "--regenerate (drops and rebuilds the database's public schema).")
        print(f"generating {spec.customers:,} customers and {spec.orders:,} orders "
              f"(seed {spec.seed}) ...", flush=True)
        started = time.perf_counter()
        shop_id = generate_store(session, spec, say=lambda line: print(line, flush=True))
        return shop_id, time.perf_counter() - started


def run(args: argparse.Namespace) -> int:
    from app.db import db

    url = require_postgresql(args.database_url)
    spec = StoreSpec(args.customers, args.orders, args.seed)
    _create_database_if_missing(url)
    if args.regenerate:
        from benchmarks.ingest import reset_database

        reset_database(url)
    instance = tempfile.mkdtemp(prefix="sticky-panel-bench-")
    # Removed at exit, after the embedded Redis (if used) has stopped: exit handlers run in
    # reverse order, and this one is registered before Redis is first connected.
    atexit.register(shutil.rmtree, instance, ignore_errors=True)
    app = bench_app(url, args.redis_url, instance)
    try:
        return _measure_store(app, spec, args)
    finally:
        db.engine.dispose()


def _measure_store(app, spec: StoreSpec, args: argparse.Namespace) -> int:
    from sqlalchemy import text

    from app.db import db
    from app.shops.models import Shop
    from app.shops.service import create_api_key, revoke_api_key

    clock = ServerClock(app.wsgi_app)
    app.wsgi_app = clock
    shop_id, generated = prepare_store(app, spec)
    with app.app_context():
        session = db.session
        facts = store_facts(session, shop_id, spec)
        mismatches = figure_mismatches(session, shop_id)
        pg = session.execute(text("SHOW server_version")).scalar()
        shop = session.get(Shop, shop_id)
        key_row, key = create_api_key(session, shop, label="panel benchmark")
        session.commit()
        clock.watch(db.engine)
    print(f"\nstore      {spec.domain} ({shop.timezone}), "
          + ("generated in " + f"{generated:.0f} s" if generated is not None else "reused")
          + f"; {mismatches} customers whose figures disagree with their orders")
    print("rows       " + ", ".join(f"{facts[k]:,} {k.replace('_', ' ')}" for k in (
        "customers", "orders", "order_lines", "refunds", "carts", "timeline_events",
        "customer_notes", "customer_tags")))
    print(f"pages ask  customer {facts['heavy_id']} ({facts['heavy_orders']} orders), search "
          f"{facts['search']!r} ({facts['search_matches']:,} matches), page {facts['deep_page']:,}")
    print(f"machine    {machine()}, PostgreSQL {pg}")

    clients = {"panel": sign_in(app, shop_id), "none": app.test_client(),
               "api": _Authorized(app.test_client(), f"Bearer {key}")}
    baselines, pages = pages_for(spec, facts)
    try:
        timings = measure(baselines + pages, clients, clock, repeat=args.repeat,
                          warmup=args.warmup)
        over = report(baselines, pages, timings, args.repeat, aim_ms=AIM_MS,
                      base_for={"panel": PANEL_BASELINE, "api": API_BASELINE},
                      sections={"panel": "panel pages (/ base: the signed-in panel frame)",
                                "api": "/api (/ base: the API-key frame)"})
        available = [p for p in pages if timings[p.path].available]
        print(f"\naim        p95 under {AIM_MS} ms: {len(available) - len(over)} of "
              f"{len(available)} available pages"
              + (f"; over it: {', '.join(p.label for p in over)}" if over else "")
              + f"; {len(pages) - len(available)} not available")
        print(f"machine    load average after {os.getloadavg()[0]:.2f}")
        if args.explain:
            explain(app, clients, clock, pages, timings)
    finally:
        with app.app_context():
            revoke_api_key(db.session, db.session.get(Shop, shop_id), key_row.id)
            db.session.commit()
    # A page that is not there yet (404) is expected while the panel is built; a server error
    # or figures that disagree with the orders are not.
    broken = [t for t in timings.values() if (t.status or 0) >= 500 or t.failures]
    return 0 if mismatches == 0 and not broken else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=None, help="default 100,000")
    parser.add_argument("--orders", type=int, default=None, help="default 500,000")
    parser.add_argument("--repeat", type=int, default=None, help="timed requests per page "
                        "(default 30)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 customers, 10,000 orders, 3 repeats (unless given)")
    parser.add_argument("--regenerate", action="store_true",
                        help="drop and rebuild the database's public schema, then generate")
    parser.add_argument("--explain", action="store_true",
                        help="EXPLAIN ANALYZE each page's slowest statements")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL (default: DATABASE_URL)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="default: REDIS_URL, else the embedded Redis")
    args = parser.parse_args(argv)
    defaults = QUICK if args.quick else {"customers": 100_000, "orders": 500_000, "repeat": 30}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
