"""The ingest benchmark's second half: drain with one worker, check, print the figures.

Correctness checks (exit status 1 if one fails):
- **nothing answered is lost**: wrk keeps one request in flight per connection, so of the
  requests a wrk thread issued, all but its last `connections / threads` were answered; every
  one of those must have an inbox row (and there are at least as many rows as "accepted"
  answers);
- **redeliveries add no row**: no inbox key outside the workload's unique keys;
- **every stored delivery is applied** after the drain (none pending, none failed);
- no non-200 answer and no socket error during the measured ingest run.
The mirror's row counts are printed next to what the stored deliveries imply.
"""

from __future__ import annotations

import os
import platform as host_platform
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

from benchmarks.loadgen import LoadResult
from benchmarks.procstat import usable_cpus
from benchmarks.workload import Delivery, Workload, expected_rows

GUNICORN = "gunicorn 4 processes x 4 gthreads"


def drain_with_one_worker(app, shop_id: int) -> tuple[float, Counter, set[str], Counter, dict]:
    """Drain the queues with one burst RQ worker (forking, as in production), then read the
    shop's inbox and mirror: (seconds, rows by status, delivery keys, failures by (topic,
    error), mirror rows by kind)."""
    from rq import Worker
    from rq.serializers import JSONSerializer
    from sqlalchemy import func, select

    from app.db import db
    from app.inbox.models import InboxEntry
    from app.profiles.models import Cart, Customer, Order, Refund
    from app.queue import QUEUE_NAMES, get_queue, get_redis

    with app.app_context():
        db.engine.dispose()
        worker = Worker([get_queue(name) for name in QUEUE_NAMES], connection=get_redis(),
                        serializer=JSONSerializer)
        started = time.perf_counter()
        worker.work(burst=True, logging_level="WARNING")
        seconds = time.perf_counter() - started
        session = db.session
        mine = InboxEntry.shop_id == shop_id
        statuses = Counter(dict(session.execute(
            select(InboxEntry.status, func.count()).where(mine)
            .group_by(InboxEntry.status)).all()))
        keys = set(session.execute(select(InboxEntry.delivery_key).where(mine)).scalars())
        failures = Counter(session.execute(
            select(InboxEntry.topic, InboxEntry.error)
            .where(mine, InboxEntry.status == "failed")).all())
        carts = session.execute(select(Cart.kind, func.count()).where(Cart.shop_id == shop_id)
                                .group_by(Cart.kind)).all()
        mirror = {label: session.execute(select(func.count()).select_from(model)
                                         .where(model.shop_id == shop_id)).scalar()
                  for label, model in (("customer", Customer), ("order", Order),
                                       ("refund", Refund))}
        mirror.update({kind: count for kind, count in carts})
        session.close()
    return seconds, statuses, keys, failures, mirror


def cpu_model(unknown: str = "unknown") -> str:
    """The processor's model name, as /proc/cpuinfo gives it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return unknown


def machine_info(app) -> dict[str, str]:
    from sqlalchemy import text

    from app.db import db
    from app.queue import get_redis

    model = cpu_model()
    with app.app_context(), db.engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        sync = conn.execute(text("SHOW synchronous_commit")).scalar()
    redis_version = get_redis(app).info("server").get("redis_version", "?")
    wrk = shutil.which("wrk")
    wrk_version = "?"
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True)  # noqa: S603
        wrk_version = (out.stdout or out.stderr).split("[", 1)[0].strip()
    import gunicorn

    return {"cpus": f"{usable_cpus()} usable of {os.cpu_count()}", "cpu": model,
            "python": f"{host_platform.python_implementation()} {host_platform.python_version()}",
            "postgres": f"PostgreSQL {pg} (synchronous_commit={sync})", "redis": redis_version,
            "gunicorn": gunicorn.__version__, "wrk": wrk_version}


def answered_deliveries(work: Workload, run: LoadResult) -> tuple[list[Delivery], list[Delivery]]:
    """(issued, surely answered) deliveries of the ingest run, from the per-thread counts.

    Thread k replayed deliveries k, k+T, k+2T, ... in order; the last `in_flight_allowance`
    it issued may have been unanswered when the run stopped."""
    total = len(run.threads)
    allowance = run.in_flight_allowance()
    issued, answered = [], []
    for stats in run.threads:
        mine = work.deliveries[stats.index::total][:stats.issued]
        issued += mine
        answered += mine[:max(0, len(mine) - allowance)]
    return issued, answered


def _cpu_line(name: str, run: LoadResult, cpus: int) -> str:
    ours = sum(run.cpu.get(k, 0.0) for k in ("wrk", "gunicorn", "postgres", "redis"))
    others = max(0.0, run.cpu.get("machine", 0.0) - ours)
    capacity = run.duration * cpus
    parts = [f"{k} {run.cpu.get(k, 0.0) / run.duration:.2f}"
             for k in ("wrk", "gunicorn", "postgres", "redis")]
    idle = max(0.0, capacity - run.cpu.get("machine", 0.0)) / run.duration
    return (f"  {name:<7} cores used: " + ", ".join(parts)
            + f", everything else {others / run.duration:.2f}, idle {idle:.2f} (of {cpus}); "
            f"wrk {run.cpu.get('wrk', 0.0) / capacity:.0%} of the machine; CPU per answer: "
            f"gunicorn {run.cpu.get('gunicorn', 0.0) / max(1, run.answered_200) * 1000:.2f} ms,"
            f" PostgreSQL {run.cpu.get('postgres', 0.0) / max(1, run.answered_200) * 1000:.2f}"
            " ms")


def check_and_report(app, platform: str, shop_id: int, work: Workload,
                     runs: dict[str, LoadResult], server_log: str, args) -> int:
    ingest, bare_runs = runs["ingest"], [runs["bare 1"], runs["bare 2"]]
    info = machine_info(app)
    print(f"[{platform}] draining the inbox with 1 RQ worker ...", flush=True)
    seconds, statuses, keys, failures, mirror = drain_with_one_worker(app, shop_id)

    issued, answered = answered_deliveries(work, ingest)
    accepted = sum(t.accepted for t in ingest.threads)
    lost = {d.key for d in answered} - keys
    extra = keys - work.unique_keys
    rows = sum(statuses.values())
    unapplied = rows - statuses.get("processed", 0)
    # A redelivery can arrive first (its original was in another thread's unsent tail).
    stored = list({d.key: d for d in issued if d.key in keys}.values())
    expected = expected_rows(stored)
    redeliveries = sum(1 for d in issued if d.duplicate)
    duplicates = sum(t.duplicate for t in ingest.threads)
    bad_answers = sum(t.other for t in ingest.threads) + sum(ingest.errors.values())
    bare = sum(r.rate for r in bare_runs) / len(bare_runs)
    cpus = usable_cpus()

    line = "=" * 96
    print(f"\n{line}\nSticky webhook ingest benchmark: {platform}\n{line}")
    print(f"machine: {info['cpus']} CPUs, {info['cpu']}; {info['postgres']}; "
          f"Redis {info['redis']}")
    print(f"         {info['python']}, gunicorn {info['gunicorn']} ({GUNICORN}), "
          f"{info['wrk']} ({args.threads} threads, {args.connections} connections, "
          f"{args.seconds:g} s per run)")
    print("         wrk, gunicorn, PostgreSQL and Redis share these CPUs with anything else "
          "running: see 'everything else'")
    print(f"workload: {len(work.deliveries)} prepared ("
          + ", ".join(f"{t} {n}" for t, n in work.topics.most_common())
          + f"), {len(issued)} sent")
    print(line)
    for name, run in (("bare 1", bare_runs[0]), ("ingest", ingest), ("bare 2", bare_runs[1])):
        route = "webhooks" if name == "ingest" else "bare"
        print(f"{name:<7} {run.route:<32} {run.rate:7.0f} {route}/s   p50 "
              f"{run.latency_ms['p50']:6.1f} ms  p99 {run.latency_ms['p99']:6.1f} ms   "
              f"({run.answered_200} answered 200 in {run.duration:.1f} s)")
    print(f"ingest/bare = {ingest.rate / bare:.2f}   (bare: mean of the two runs around the "
          f"ingest run, {bare:.0f}/s)")
    for name, run in (("bare 1", bare_runs[0]), ("ingest", ingest), ("bare 2", bare_runs[1])):
        print(_cpu_line(name, run, cpus))
    rate = statuses.get("processed", 0) / seconds if seconds else float("nan")
    print(f"apply (1 worker): {rate:.0f} events/s ({statuses.get('processed', 0)} events in "
          f"{seconds:.1f} s)")
    print(line)
    print(f"answered: {accepted} accepted, {duplicates} 'duplicate' (of {redeliveries} "
          f"redeliveries sent), {bad_answers} other answers or socket errors {ingest.errors}")
    print(f"lost (answered, no inbox row): {len(lost)}; inbox rows {rows} "
          f"(>= {accepted} accepted: {'yes' if rows >= accepted else 'NO'}); rows not in the "
          f"workload: {len(extra)}")
    print(f"after the drain: {dict(statuses)}; not applied: {unapplied}")
    for (topic, error), count in failures.most_common(5):
        print(f"  failed x{count} {topic}: {(error or '')[:160]}")
    kinds = ("customer", "order", "refund", "checkout", "cart")
    print("mirror rows: " + ", ".join(
        f"{k} {mirror.get(k, 0)}" + (f" (expected {expected[k]}"
                                     + (" + guests by email " + str(expected['email'])
                                        if k == "customer" else "") + ")")
        for k in kinds if expected.get(k) or mirror.get(k)))
    if ingest.exhausted:
        print(f"WARNING: the {len(work.deliveries)} prepared deliveries ran out before the "
              f"run ended, so the ingest rate is too low: raise --n")
    if server_log.strip():
        lines = server_log.strip().splitlines()
        print(f"gunicorn log: {len(lines)} lines, last: {lines[-1][:160]}")
    print(line)
    ok = (not lost and not extra and unapplied == 0 and rows >= accepted and not bad_answers
          and not ingest.exhausted)
    print("checks: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1
