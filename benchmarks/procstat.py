"""CPU time of the processes a benchmark runs next to, read from Linux's /proc.

Everything shares one machine (load generator, gunicorn, PostgreSQL, Redis, and whoever else
uses it), so a figure means little without knowing who used the CPU while it was taken.
`CpuMeter` samples each party and the machine as a whole; the difference of two samples says
how many CPU seconds each used in between. Off Linux every reading is 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int | str) -> tuple[str, float] | None:
    """(command name, CPU seconds used) of one process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return name, (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of `pid` and its children (gunicorn: the master and its workers)."""
    if pid is None:
        return 0.0
    pids = {pid}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids.update(int(p) for p in (task / "children").read_text().split())
    except OSError:
        return 0.0
    return sum(found[1] for p in pids if (found := _stat(p)) is not None)


def named_cpu(*names: str) -> float:
    """CPU seconds of every process whose command name is one of `names`."""
    total = 0.0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0.0
    for entry in entries:
        if entry.isdigit() and (found := _stat(entry)) is not None and found[0] in names:
            total += found[1]
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent not idle (all cores, every process)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / _TICK


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass
class CpuMeter:
    """Samples named parties; `since(earlier)` gives each one's CPU seconds in between."""

    parties: dict[str, Callable[[], float]]

    def sample(self) -> dict[str, float]:
        reading = {name: read() for name, read in self.parties.items()}
        reading["machine"] = machine_busy()
        return reading

    @staticmethod
    def since(earlier: dict[str, float], later: dict[str, float]) -> dict[str, float]:
        return {name: later[name] - earlier.get(name, 0.0) for name in later}
