"""`flask --app app backfill SHOP`: import a store's history in-process, with a progress bar."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.db import db


@click.command("backfill")
@click.argument("shop")
@click.option("--restart", is_flag=True,
              help="Start over from the beginning instead of resuming an unfinished import.")
@with_appcontext
def backfill_command(shop: str, restart: bool) -> None:
    """Import SHOP's customers and orders (SHOP: store id or domain).

    \b
    Runs here, with a progress bar. Stopped or failed? Run it again: it resumes after the
    last saved chunk and never imports anything twice. Records already newer in Sticky (from
    webhooks) are kept. Shopify stores are read with the Bulk Operations API.
    """
    from tqdm import tqdm

    from app.shops.service import ShopError, find_shop
    from app.sync.backfill import BackfillError, latest_run, run_backfill

    session = db.session
    try:
        target = find_shop(session, shop)
    except ShopError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if target.status != "active":
        click.echo(f"Error: store {target.domain} is {target.status}; reconnect it before "
                   "importing its history", err=True)
        sys.exit(2)
    previous = latest_run(session, target.id)
    if previous is not None and previous.status != "completed" and previous.cursor and not restart:
        click.echo(f"Resuming the import of {target.domain} after {previous.processed} records "
                   "(use --restart to start over).")
    else:
        click.echo(f"Importing the history of {target.domain} ...")

    bar = tqdm(unit=" records", dynamic_ncols=True, desc=target.domain)

    def show(run, page) -> None:
        if run.total is not None and bar.total != run.total:
            bar.total = run.total
        bar.n = run.processed
        bar.refresh()

    try:
        run = run_backfill(session, target.id, restart=restart, on_progress=show)
    except BackfillError as exc:
        bar.close()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the run records it; tell the user how to go on
        bar.close()
        click.echo(f"Error: the import stopped: {exc}", err=True)
        click.echo("Progress so far is saved; run the same command again to resume.", err=True)
        sys.exit(1)
    bar.n = run.processed
    bar.close()
    click.echo(f"Done: {run.processed} customers and orders imported for {target.domain}.")
