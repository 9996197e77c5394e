"""Where a webhook receiver's time goes: the real app, in-process, under a profiler.

    python benchmarks/profile_receiver.py [--platform shopify|woocommerce] [--n 3000]
                                          [--profiler cprofile|pyinstrument|none] [--bare]

Resets the benchmark database (like `ingest.py`: destructive on its targets), connects one
store, then calls the WSGI app directly, one request after another, with deliveries built
and signed beforehand, so only the server's own work is measured: Flask, the receiver,
SQLAlchemy, psycopg, redis-py. `cprofile` (the default, in the standard library) counts CPU
time (`time.process_time`), so waiting on PostgreSQL or Redis does not show and what remains
is the Python work per request; `pyinstrument` (`pip install pyinstrument`) samples wall
time, waits included; `none` only times the requests. `--bare` profiles the benchmark's
no-op route instead, for comparison.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def environs(route: str, deliveries) -> list[dict]:
    from werkzeug.test import EnvironBuilder

    built = []
    for d in deliveries:
        builder = EnvironBuilder(path=route, method="POST", data=d.body, headers=d.headers,
                                 base_url="http://127.0.0.1:8000")
        built.append(builder.get_environ())
    return built


def call(app, environ: dict) -> int:
    status: list[str] = []

    def start_response(s, headers, exc_info=None):
        status.append(s)

    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].getvalue())
    body = app(environ, start_response)
    for _ in body:
        pass
    getattr(body, "close", lambda: None)()
    return int(status[0].split()[0])


def main(argv: list[str] | None = None) -> int:
    from benchmarks import ingest

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=("shopify", "woocommerce"), default="shopify")
    parser.add_argument("--n", type=int, default=3000, help="requests profiled")
    parser.add_argument("--profiler", choices=("cprofile", "pyinstrument", "none"),
                        default="cprofile", help="none: only time the requests")
    parser.add_argument("--bare", action="store_true", help="profile the no-op route instead")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL")
                        or ingest.DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL")
                        or ingest.DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    args.n, n = args.n + 200, args.n  # the first 200 warm up
    ingest.bench_env(args)
    args.platform_now = args.platform
    ingest.fresh_app(args)
    app = ingest.bench_app()
    setup = ingest.setup_shopify if args.platform == "shopify" else ingest.setup_woocommerce
    _, route, work, _ = setup(app, args)
    if args.bare:
        route = ingest.BARE_ROUTE
    requests = environs(route, [d for d in work.deliveries if not d.duplicate][:args.n])
    for environ in requests[:-n]:
        assert call(app, environ) == 200
    measured = requests[-n:]

    if args.profiler == "pyinstrument":
        try:
            from pyinstrument import Profiler
        except ImportError:
            raise SystemExit("pyinstrument is not installed: pip install pyinstrument, "
                             "or use --profiler cprofile") from None
        profiler = Profiler(interval=0.0002)
        started, cpu = time.perf_counter(), time.process_time()
        profiler.start()
        statuses = [call(app, environ) for environ in measured]
        profiler.stop()
    elif args.profiler == "none":
        profiler = None
        started, cpu = time.perf_counter(), time.process_time()
        statuses = [call(app, environ) for environ in measured]
    else:
        profiler = cProfile.Profile(time.process_time)
        started, cpu = time.perf_counter(), time.process_time()
        profiler.enable()
        statuses = [call(app, environ) for environ in measured]
        profiler.disable()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{n} requests to {route}: {wall / n * 1000:.3f} ms wall, {cpu / n * 1000:.3f} ms "
          f"CPU each ({args.profiler} overhead included); statuses {sorted(set(statuses))}")
    if profiler is None:
        pass
    elif args.profiler == "pyinstrument":
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    else:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
            print(f"--- top {args.top} by {order} ---")
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
