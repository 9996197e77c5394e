"""`tick`: every periodic job once, now, in this process (for cron-style deployments and for
tests). The jobs are those of the worker's schedule (`jobs.worker.PERIODIC_JOBS`), run in
their order; one failing does not stop the others."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobs import worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    job: str
    ok: bool
    summary: str  # what the job did, or why it failed
    seconds: float


def resolve(name: str) -> Callable[[], Any]:
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)


def describe(result: Any) -> str:
    """A job's return value in a line: `requeued: [3, 7]; purged: 0` (none for empty)."""
    if isinstance(result, dict):
        if not result:
            return "nothing to do"
        parts = []
        for key, value in result.items():
            if isinstance(value, list | tuple | set | dict) and not value:
                value = "none"
            elif isinstance(value, list | tuple):
                value = "[" + ", ".join(str(v) for v in value) + "]"
            parts.append(f"{key}: {value}")
        return "; ".join(parts)
    return "done" if result is None else str(result)


def run_periodic_jobs_once() -> list[Outcome]:
    """Run each job of `jobs.worker.PERIODIC_JOBS` once, in order; an outcome per job."""
    outcomes = []
    for name, _period in worker.PERIODIC_JOBS:
        started = time.monotonic()
        try:
            summary, ok = describe(resolve(name)()), True
        except Exception as exc:  # noqa: BLE001 - reported; the other jobs still run
            log.exception("tick.job_failed", extra={"job": name})
            summary, ok = f"{type(exc).__name__}: {exc}", False
        outcomes.append(Outcome(name, ok, summary, time.monotonic() - started))
    return outcomes
