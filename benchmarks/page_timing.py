"""Server time of pages requested in-process: a WSGI clock, the rounds, the table.

The panel benchmark's machinery (benchmarks/panel.py), for any Flask app: each request goes
through the test client, so there is no network, and the time taken is the server's own, from
the WSGI call to the end of the response body. The SQL a request sent is counted and timed from
the engine's cursor events. Importing this module has no side effects.
"""

from __future__ import annotations

import math
import os
import platform
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field

from benchmarks.report import cpu_model


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    door: str  # "panel" (signed-in session), "api" (API key) or "none"


@dataclass
class Timing:
    page: Page
    status: int | None = None  # the warm-up's answer; None until requested
    ms: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    size: int = 0
    failures: Counter = field(default_factory=Counter)  # non-200 answers while timed

    @property
    def available(self) -> bool:
        return self.status == 200 and not self.failures


def nearest_rank(values: list[float], fraction: float) -> float:
    """The p-th percentile by nearest rank: a value that was actually seen."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class ServerClock:
    """WSGI middleware: how long the app took for the last request, body included, and the
    SQL it sent (statements and their time, from the engine's cursor events)."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app
        self.seconds = 0.0
        self.sql: list[tuple[float, str, object]] = []
        self._started: list[float] = []

    def __call__(self, environ, start_response):
        self.sql, self._started = [], []
        started = time.perf_counter()
        body = self.wsgi_app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
            self.seconds = time.perf_counter() - started
        return chunks

    def watch(self, engine) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def before(conn, cursor, statement, parameters, context, executemany):
            self._started.append(time.perf_counter())

        @event.listens_for(engine, "after_cursor_execute")
        def after(conn, cursor, statement, parameters, context, executemany):
            self.sql.append((time.perf_counter() - self._started.pop(), statement, parameters))


def measure(pages: list[Page], clients: dict, clock: ServerClock, *, repeat: int,
            warmup: int) -> dict[str, Timing]:
    """Warm each page up (at least one request: it says whether the page is there), then
    request every page in turn, `repeat` rounds: noise from the machine spreads over all
    pages rather than landing on one. `clients`: a test client per door."""
    timings = {p.path: Timing(p) for p in pages}
    for page in pages:
        for _ in range(max(1, warmup)):
            answer = clients[page.door].get(page.path)
            timings[page.path].status = answer.status_code
            if answer.status_code != 200:
                break
    live = [p for p in pages if timings[p.path].status == 200]
    for _ in range(repeat):
        for page in live:
            answer = clients[page.door].get(page.path)
            timing = timings[page.path]
            if answer.status_code != 200:
                timing.failures[answer.status_code] += 1
                continue
            timing.ms.append(clock.seconds * 1000)
            timing.statements.append(len(clock.sql))
            timing.sql_ms.append(sum(s for s, _, _ in clock.sql) * 1000)
            timing.size = len(answer.data)
    return timings


def row(timing: Timing, base: Timing | None) -> str:
    label = f"  {timing.page.label[:48]:<48}"
    if timing.status != 200:
        return f"{label} not available (HTTP {timing.status})"
    if timing.failures:
        answers = ", ".join(f"HTTP {code} x{n}" for code, n in sorted(timing.failures.items()))
        asked = len(timing.ms) + sum(timing.failures.values())
        return f"{label} failed while timed: {answers} of {asked}"
    median = statistics.median(timing.ms)
    ratio = (f"{median / statistics.median(base.ms):7.1f}x" if base and base.available
             and base is not timing else f"{'':>8}")
    return (f"{label} {median:8.1f} {nearest_rank(timing.ms, 0.95):8.1f} {max(timing.ms):8.1f}"
            f" {ratio} {statistics.median(timing.statements):5.0f} "
            f"{statistics.median(timing.sql_ms):8.1f} {timing.size / 1024:7.1f}")


def report(baselines: list[Page], pages: list[Page], timings: dict[str, Timing], repeat: int,
           *, base_for: dict[str, str], sections: dict[str, str], aim_ms: float) -> list[Page]:
    """Print the table: the baselines, then each door's pages (`sections`: door -> title)
    divided by that door's baseline (`base_for`: door -> the baseline's path). Returns the
    pages whose p95 is `aim_ms` or more."""
    header = (f"  {'page':<48} {'median':>8} {'p95':>8} {'max':>8} {'/ base':>8} {'SQL':>5} "
              f"{'SQL ms':>8} {'KB':>7}")
    print(f"\nserver time per request, ms ({repeat} requests each; p95 by nearest rank; "
          "SQL: statements and their time, medians; KB: the body)")
    print(header)
    print("baselines (the same stack answering a trivial request)")
    for page in baselines:
        print(row(timings[page.path], None))
    over = []
    for door, title in sections.items():
        print(title)
        for page in (p for p in pages if p.door == door):
            timing = timings[page.path]
            print(row(timing, timings[base_for[door]]))
            if timing.available and nearest_rank(timing.ms, 0.95) >= aim_ms:
                over.append(page)
    return over


def explain(app, clients: dict, clock: ServerClock, pages: list[Page],
            timings: dict[str, Timing], *, top: int = 3) -> None:
    """For each available page: EXPLAIN (ANALYZE, BUFFERS) of its slowest statements in one
    more request (those of at least 1 ms), with the parameters they were sent with."""
    from app.db import db

    print("\nslowest statements per page, EXPLAIN (ANALYZE, BUFFERS)")
    for page in pages:
        if not timings[page.path].available:
            continue
        clients[page.door].get(page.path)
        slowest = sorted(clock.sql, key=lambda s: -s[0])[:top]
        for seconds, statement, parameters in slowest:
            if seconds < 0.001 or not statement.lstrip().upper().startswith("SELECT"):
                continue
            with app.app_context(), db.engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement,
                                            parameters).scalars().all()
            flat = re.sub(r"SELECT ((?:(?!SELECT|FROM).){100,}?) FROM", "SELECT ... FROM",
                          " ".join(statement.split()))  # long column lists say little
            shown = list(parameters.items()) if isinstance(parameters, dict) else []
            print(f"\n-- {page.label} ({page.path}): {seconds * 1000:.1f} ms in the request")
            print(f"   {flat[:900]}")
            print(f"   parameters: {dict(shown[:8])}"
                  + (f" and {len(shown) - 8} more" if len(shown) > 8 else ""))
            print("\n".join("   " + line for line in plan))


def machine() -> str:
    model = cpu_model("?")
    return (f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
            f"load average {os.getloadavg()[0]:.2f}")
