"""`flask --app app worker [--burst]`, provided by the jobs package.

Registered through the `flask.commands` entry point group in pyproject.toml, so the flask
command offers it without `app` importing jobs/ (jobs import app, never the reverse).
"""

from __future__ import annotations

import logging

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
