"""Driving `wrk` with pre-signed deliveries, and reading back what it saw.

A Python client saturates long before gunicorn does on a small machine (it measured the
client, not the server: ingest came out at 0.54 of the bare endpoint where wrk shows 0.16).
wrk is written in C and spends a few percent of a core at these rates, and its CPU share is
printed with every figure so that can be checked.

Each delivery is signed ahead of time and written to a file (`write_requests`); wrk replays
it through `benchmarks/replay.lua`, every request once, so webhook ids stay unique and
signatures valid. The script splits the file between wrk's threads and reports, per thread,
how many requests it issued and how they were answered; with one request in flight per
connection, all but a thread's last `connections / threads` issued requests were answered.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.procstat import CpuMeter, tree_cpu

SCRIPT = Path(__file__).resolve().with_name("replay.lua")
INSTALL_HINT = ("wrk, the HTTP load generator, is not on PATH. Install it (Debian/Ubuntu: "
                "`sudo apt-get install -y wrk`; macOS: `brew install wrk`), or point --wrk "
                "at the binary.")


def find_wrk(explicit: str | None = None) -> str:
    """The wrk binary to use; SystemExit with how to install it when there is none."""
    found = explicit or shutil.which("wrk")
    if not found or not os.access(found, os.X_OK):
        raise SystemExit(INSTALL_HINT)
    return found


def write_requests(path: Path, requests: Iterable[tuple[dict[str, str], bytes]],
                   host: str) -> int:
    """Write each (headers, body) as replay.lua reads it; returns how many were written."""
    count = 0
    with open(path, "wb") as out:
        for headers, body in requests:
            head = [f"Host: {host}", f"Content-Length: {len(body)}"]
            head += [f"{name}: {value}" for name, value in headers.items()
                     if name.lower() not in ("host", "content-length")]
            raw = ("\r\n".join(head) + "\r\n\r\n").encode() + body
            out.write(b"%d\n" % len(raw))
            out.write(raw)
            count += 1
    return count


@dataclass
class ThreadStats:
    index: int
    issued: int
    accepted: int   # 200 whose body does not say "duplicate"
    duplicate: int  # 200 "duplicate delivery; already accepted"
    other: int      # any other status
    exhausted: bool


@dataclass
class LoadResult:
    """One wrk run: what it sent and got back, and who used the CPU meanwhile."""

    route: str
    duration: float              # seconds, as wrk measured the run
    completed: int               # responses received
    errors: dict[str, int]       # socket errors and non-2xx, by kind
    latency_ms: dict[str, float]  # p50, p90, p99, mean
    threads: list[ThreadStats]
    connections: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by party, "wrk" included

    @property
    def answered_200(self) -> int:
        return sum(t.accepted + t.duplicate for t in self.threads)

    @property
    def rate(self) -> float:
        """HTTP 200 answers per second of the run."""
        return self.answered_200 / self.duration if self.duration else 0.0

    @property
    def exhausted(self) -> bool:
        return any(t.exhausted for t in self.threads)

    def in_flight_allowance(self) -> int:
        """Requests per thread that may still have been unanswered when the run stopped."""
        return self.connections // max(1, len(self.threads))


_THREAD = re.compile(r"STICKY thread (.*)")
_RUN = re.compile(r"STICKY run (.*)")


def _fields(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (pair.split("=") for pair in text.split())}


def run_wrk(wrk: str, base_url: str, route: str, request_file: Path, *, threads: int,
            connections: int, seconds: float, cycle: bool, meter: CpuMeter,
            timeout_seconds: int = 30) -> LoadResult:
    """Replay `request_file` against `base_url + route` for `seconds`; measure CPU meanwhile."""
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
           "--timeout", f"{timeout_seconds}s", "-s", str(SCRIPT), base_url + route, "--",
           str(request_file), route, str(threads), "cycle" if cycle else "once"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,  # noqa: S603 - our own command
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    # Each thread says when it has read the request file; the run starts right after, and
    # so does the CPU count (wrk's own reading of the file left out).
    head, ready = [], 0
    for line in proc.stdout:
        head.append(line)
        ready += line.startswith(b"STICKY ready")
        if ready == threads:
            break
    before = meter.sample()
    wrk_before = sum(tree_cpu(proc.pid).values())
    tail = proc.stdout.read()
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    after = meter.sample()
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = b"".join(head).decode(errors="replace") + tail.decode(errors="replace")
    if proc.returncode != 0 or not _RUN.search(text):
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{text[-4000:]}")
    run = _fields(_RUN.search(text).group(1))
    stats = []
    for match in _THREAD.finditer(text):
        f = _fields(match.group(1))
        stats.append(ThreadStats(f["index"], f["issued"], f["accepted"], f["duplicate"],
                                 f["other"], bool(f["exhausted"])))
    cpu = CpuMeter.since(before, after)
    cpu["wrk"] = usage.ru_utime + usage.ru_stime - wrk_before
    errors = {k: run[k] for k in ("connect", "read", "write", "status", "timeout") if run[k]}
    return LoadResult(
        route=route, duration=run["duration_us"] / 1e6, completed=run["requests"],
        errors=errors,
        latency_ms={q: run[f"{q}_us"] / 1000 for q in ("p50", "p90", "p99", "mean")},
        threads=sorted(stats, key=lambda t: t.index), connections=connections, cpu=cpu)
