"""`flask --app app worker [--burst]` and `flask --app app tick`, provided by the jobs package.

Registered through the `flask.commands` entry point group in pyproject.toml, so the flask
command offers it without `app` importing jobs/ (jobs import app, never the reverse).
"""

from __future__ import annotations

import logging
import sys

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues and exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker with the scheduler (periodic sweep, abandoned carts)."""
    from app.logs import configure_logging
    from jobs.worker import run_worker

    # The worker's output is a log: one line per event, with its fields, from INFO up.
    configure_logging(console=False, level=logging.INFO)
    run_worker(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]


@click.command("tick")
@with_appcontext
def tick_command() -> None:
    """Run every periodic job once, now, in this process, and exit.

    \b
    For cron-style deployments (run it every few minutes) and for tests. The jobs are the
    worker's schedule, in order: inbox and event sweeps, abandoned checkouts, privacy-request
    sweeps, WooCommerce webhook checks, reconciliation, the loyalty daily run (each store
    once per local day). One line per job says what it did. Work a job hands to the queue
    (a store's drain, a reconciliation pass) is done by `worker` (`worker --burst` drains
    the queues and exits). Exit status 1 if a job failed; the others still ran.
    """
    from app.logs import configure_logging
    from jobs.tick import run_periodic_jobs_once

    configure_logging(console=True, level=logging.WARNING)
    outcomes = run_periodic_jobs_once()
    width = max(len(o.job) for o in outcomes)
    for o in outcomes:
        status = "ok    " if o.ok else "FAILED"
        click.echo(f"{status} {o.job.ljust(width)}  {o.summary} ({o.seconds:.2f} s)")
    failed = [o.job for o in outcomes if not o.ok]
    if failed:
        click.echo(f"{len(failed)} of {len(outcomes)} jobs failed: {', '.join(failed)}",
                   err=True)
        sys.exit(1)
