"""Webhook ingest benchmark: the real receivers under gunicorn, loaded by wrk, side by side
with a bare endpoint on the same server, then applied by one RQ worker.

    python benchmarks/ingest.py [--platform shopify|woocommerce|both] [--seconds 10]
                                [--n 20000] [--threads 2] [--connections 16]
                                [--database-url URL] [--redis-url URL] [--wrk PATH]

A benchmark, not a test (see benchmarks/README.md). Destructive on its targets: it recreates
the database's public schema and flushes the Redis db. For each platform it connects one
store, starts gunicorn (4 processes x 4 threads) serving the app plus `POST /__bench/noop`
(reads the body, answers 200), and runs wrk three times for `--seconds` each: the bare
endpoint, the webhook route with every delivery pre-signed and sent once, the bare endpoint
again. Then one worker drains the inbox and the checks run: every answered delivery is
stored, redeliveries added no row, every stored delivery was applied. Needs `wrk` on PATH.
Importing this module has no side effects.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import loadgen, procstat  # noqa: E402 - needs ROOT on sys.path when run as a script
from benchmarks.report import check_and_report  # noqa: E402
from benchmarks.workload import Workload, shopify_deliveries, woo_deliveries  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "gunicorn").exists() \
    else Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sticky_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
SHOP_DOMAIN = "sticky-bench.myshopify.com"
SHOPIFY_API_SECRET = "bench-shopify-secret"  # noqa: S105 - a benchmark-only value
SHOPIFY_API_KEY = "bench-shopify-key"
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 4
BARE_ROUTE = "/__bench/noop"


def bench_app():
    """gunicorn target: the real app plus `POST /__bench/noop`, a route that does no work."""
    from flask import request

    from app import create_app

    app = create_app()

    def noop():
        request.get_data(cache=False)
        return "ok", 200

    app.add_url_rule(BARE_ROUTE, "bench_noop", noop, methods=["POST"])
    return app


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


def bench_env(args: argparse.Namespace) -> dict[str, str]:
    """The settings both gunicorn and this process (migrations, worker, checks) use."""
    from cryptography.fernet import Fernet

    settings = {
        "DATABASE_URL": args.database_url, "REDIS_URL": args.redis_url,
        "SHOPIFY_API_SECRET": SHOPIFY_API_SECRET, "SHOPIFY_API_KEY": SHOPIFY_API_KEY,
        "SECRET_KEY": "bench-secret-key-" + uuid.uuid4().hex,
        "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    }
    os.environ.update(settings)
    os.environ.pop("SHOPIFY_API_SECRET_OLD", None)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def fresh_app(args: argparse.Namespace):
    import logging

    from app import create_app
    from app.migrate import upgrade
    from app.queue import get_redis

    print(f"[{args.platform_now}] resetting {args.database_url} and {args.redis_url} ...",
          flush=True)
    reset_database(args.database_url)
    app = create_app()
    get_redis(app).flushdb()
    upgrade(app)
    logging.getLogger().setLevel(logging.WARNING)  # alembic's INFO lines
    return app


def setup_shopify(app, args) -> tuple[int, str, Workload, Workload]:
    from app.db import db
    from app.shops.service import connect_shopify_by_token

    with app.app_context():
        shop = connect_shopify_by_token(db.session, SHOP_DOMAIN, "shpat_bench_token")
        db.session.commit()
        shop_id = shop.id
    work = shopify_deliveries(args.n, secret=SHOPIFY_API_SECRET, domain=SHOP_DOMAIN,
                              seed=args.seed)
    warmup = shopify_deliveries(200, secret=SHOPIFY_API_SECRET, domain=SHOP_DOMAIN,
                                seed=args.seed + 1)
    return shop_id, "/webhooks/shopify", work, warmup


def setup_woocommerce(app, args) -> tuple[int, str, Workload, Workload]:
    from app.crypto import encrypt
    from app.db import db
    from app.shops.models import Shop
    from app.woocommerce.models import WooWebhook
    from benchmarks.workload import WOO_STORE_URL
    from connectors.woocommerce.webhooks import TOPICS, new_secret

    secrets: dict[str, tuple[str, str]] = {}
    with app.app_context():
        shop = Shop(platform="woocommerce", domain="woo-bench.example", name="woo-bench",
                    currency="USD", status="active", api_base_url=WOO_STORE_URL,
                    consumer_key_encrypted=encrypt("ck_bench"),
                    consumer_secret_encrypted=encrypt("cs_bench"))
        db.session.add(shop)
        db.session.flush()
        for n, topic in enumerate(TOPICS):
            secrets[topic] = (str(800 + n), new_secret())
            db.session.add(WooWebhook(shop_id=shop.id, topic=topic, remote_id=str(800 + n),
                                      secret_encrypted=encrypt(secrets[topic][1]),
                                      status="active"))
        db.session.commit()
        shop_id = shop.id
    work = woo_deliveries(args.n, shop_id, secrets, seed=args.seed)
    warmup = woo_deliveries(200, shop_id, secrets, seed=args.seed + 1)
    return shop_id, f"/webhooks/woocommerce/{shop_id}", work, warmup


# --------------------------------------------------------------------------- a run

def run_platform(args: argparse.Namespace, platform: str) -> int:
    args.platform_now = platform
    env = bench_env(args)
    app = fresh_app(args)
    setup = setup_shopify if platform == "shopify" else setup_woocommerce
    print(f"[{platform}] generating {args.n} deliveries (+2% redeliveries) ...", flush=True)
    shop_id, route, work, warmup = setup(app, args)

    from app.queue import get_redis

    redis = get_redis(app)

    def redis_cpu() -> float:
        info = redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    pg = _stats_connection(args.database_url)

    def postgres_pids() -> dict[int, float]:
        # This database's backends and the server's own writers; not other databases'.
        pids = pg.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                          " OR backend_type <> 'client backend'").fetchall()
        return procstat.pids_cpu(pid for (pid,) in pids)

    port = free_port()
    host = f"127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="sticky-ingest-bench-"))
    requests_file, warmup_file = workdir / "deliveries.bin", workdir / "warmup.bin"
    loadgen.write_requests(requests_file, ((d.headers, d.body) for d in work.deliveries), host)
    loadgen.write_requests(warmup_file, ((d.headers, d.body) for d in warmup.deliveries), host)
    log_path = workdir / "gunicorn.log"
    proc = None
    runs: dict[str, loadgen.LoadResult] = {}
    try:
        proc = start_gunicorn(env, port, log_path)
        wait_healthy(f"http://{host}", proc, log_path)
        server_pid = proc.pid
        meter = procstat.CpuMeter({
            "gunicorn": lambda: procstat.tree_cpu(server_pid),
            "postgres": postgres_pids,
            "redis": redis_cpu,
        })
        wrk = dict(threads=args.threads, connections=args.connections, meter=meter)

        def load(route_: str, file: Path, seconds: float, cycle: bool) -> loadgen.LoadResult:
            return loadgen.run_wrk(args.wrk, f"http://{host}", route_, file, seconds=seconds,
                                   cycle=cycle, **wrk)

        # Warm-up: every worker opens its connections and imports what it loads lazily.
        # Its deliveries are real ones for the store, deleted again before the measured run.
        print(f"[{platform}] warming up ...", flush=True)
        load(route, warmup_file, 3, cycle=True)
        load(BARE_ROUTE, warmup_file, 2, cycle=True)
        _forget_warmup(app, shop_id)
        print(f"[{platform}] measuring {BARE_ROUTE}, {route}, {BARE_ROUTE} "
              f"({args.seconds:g} s each) ...", flush=True)
        runs["bare 1"] = load(BARE_ROUTE, requests_file, args.seconds, cycle=True)
        runs["ingest"] = load(route, requests_file, args.seconds, cycle=False)
        runs["bare 2"] = load(BARE_ROUTE, requests_file, args.seconds, cycle=True)
    finally:
        stop(proc)
        pg.close()
        for path in (requests_file, warmup_file):
            path.unlink(missing_ok=True)
    server_log = log_path.read_text(errors="replace") if log_path.exists() else ""
    return check_and_report(app, platform, shop_id, work, runs, server_log, args)


def _stats_connection(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1),
                           autocommit=True)


def _forget_warmup(app, shop_id: int) -> None:
    """Drop the warm-up's inbox rows and queued drain, so the measured run starts clean."""
    from sqlalchemy import delete

    from app.db import db
    from app.inbox.models import InboxEntry
    from app.queue import get_redis

    with app.app_context():
        db.session.execute(delete(InboxEntry).where(InboxEntry.shop_id == shop_id))
        db.session.commit()
        db.session.close()
    get_redis(app).flushdb()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=("shopify", "woocommerce", "both"),
                        default="shopify")
    parser.add_argument("--seconds", type=float, default=10, help="length of each wrk run")
    parser.add_argument("--n", type=int, default=20000,
                        help="unique deliveries prepared (more than the run can send)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--wrk", default=None, help="the wrk binary (default: from PATH)")
    parser.add_argument("--database-url",
                        default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL,
                        help="PostgreSQL database to reset and use (env BENCH_DATABASE_URL)")
    parser.add_argument("--redis-url",
                        default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL,
                        help="Redis database to FLUSH and use (env BENCH_REDIS_URL)")
    args = parser.parse_args(argv)
    args.wrk = loadgen.find_wrk(args.wrk)
    os.chdir(ROOT)
    status = 0
    for platform in ("shopify", "woocommerce"):
        if args.platform in (platform, "both"):
            status |= run_platform(args, platform)
    return status


if __name__ == "__main__":
    sys.exit(main())
