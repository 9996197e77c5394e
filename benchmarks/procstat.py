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


def tree_cpu(pid: int | None) -> dict[int, float]:
    """CPU seconds of `pid` and its children (gunicorn: the master and its workers), by pid."""
    if pid is None:
        return {}
    pids = {pid}
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids.update(int(p) for p in (task / "children").read_text().split())
    except OSError:
        return {}
    return pids_cpu(pids)


def pids_cpu(pids) -> dict[int, float]:
    """CPU seconds of each of `pids` still running."""
    return {int(p): found[1] for p in pids if (found := _stat(p)) is not None}


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
    """Samples named parties; `since(earlier, later)` gives each one's CPU seconds in
    between. A party reads either one cumulative figure or CPU seconds by pid; by pid, a
    process that ended in between is left out rather than counted as negative."""

    parties: dict[str, Callable[[], float | dict[int, float]]]

    def sample(self) -> dict[str, float | dict[int, float]]:
        reading = {name: read() for name, read in self.parties.items()}
        reading["machine"] = machine_busy()
        return reading

    @staticmethod
    def since(earlier: dict, later: dict) -> dict[str, float]:
        used = {}
        for name, now in later.items():
            before = earlier.get(name, 0.0)
            if isinstance(now, dict):
                used[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())
            else:
                used[name] = now - before
        return used
