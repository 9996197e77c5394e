"""`flask --app app ...` commands (DESIGN.md, "Commands")."""

from __future__ import annotations

import functools
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from app.db import db
from app.logs import configure_logging
from app.routing import MAX_ID

db_cli = AppGroup("db", help="Database schema (Alembic migrations).")
shops_cli = AppGroup("shops", help="Connect stores and manage their API keys.")
inbox_cli = AppGroup("inbox", help="Inspect and retry stored webhook deliveries.")


@db_cli.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from app.migrate import upgrade

    upgrade(current_app._get_current_object(), revision)  # type: ignore[attr-defined]
    click.echo(f"database is at {revision}")


@db_cli.command("downgrade")
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (e.g. -1, or base)."""
    from app.migrate import downgrade

    downgrade(current_app._get_current_object(), revision)  # type: ignore[attr-defined]


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@shops_cli.command("add")
@click.argument("store")
@click.option("--token", help="Shopify Admin API access token (custom app).")
@click.option("--consumer-key", help="WooCommerce REST consumer key.")
@click.option("--consumer-secret", help="WooCommerce REST consumer secret.")
@with_appcontext
def shops_add(store: str, token: str | None, consumer_key: str | None,
              consumer_secret: str | None) -> None:
    """Connect a store.

    \b
    Shopify:      flask --app app shops add my-shop.myshopify.com --token shpat_...
    WooCommerce:  flask --app app shops add https://store.example --consumer-key ck_... \\
                      --consumer-secret cs_...
    The credential is checked with a real API call first (nothing is stored if it fails),
    then stored encrypted with TOKEN_ENCRYPTION_KEY. The store's name, currency and time
    zone come from the platform's answer.
    """
    from app.flows.builtins import install as install_builtin_flows
    from app.shops.service import ShopError, connect_shopify_by_token, shopify_domain_to_connect

    if consumer_key or consumer_secret:
        if token:
            _fail("give either --token (Shopify) or --consumer-key/--consumer-secret "
                  "(WooCommerce), not both")
        _add_woocommerce_store(store, consumer_key, consumer_secret)
        return
    if not token:
        _fail("give --token for a Shopify store (an Admin API access token)")
    try:
        domain = shopify_domain_to_connect(store)
        click.echo(f"Checking the token with {domain} ...")
        shop = connect_shopify_by_token(db.session, domain, token, verify=True)
    except ShopError as exc:
        _fail(str(exc))
    install_builtin_flows(db.session, shop.id)
    db.session.commit()
    app_url = current_app.config["APP_URL"]
    click.echo(f"Connected {shop.domain} (store id {shop.id}): {shop.name}, {shop.currency}, "
               f"{shop.timezone or 'time zone unknown'}.")
    click.echo(f"Point its webhooks at {app_url}/webhooks/shopify")


def _add_woocommerce_store(store: str, consumer_key: str | None,
                           consumer_secret: str | None) -> None:
    """Confirm the keys with an API call, save the store, then create Sticky's webhooks."""
    from app.flows.builtins import install as install_builtin_flows
    from app.shops.clients import woo_client
    from app.shops.service import ShopError, connect_woocommerce_by_keys
    from app.woocommerce.webhooks import ensure_webhooks
    from connectors.http import HttpError
    from connectors.woocommerce.webhooks import delivery_url

    if not consumer_key or not consumer_secret:
        _fail("a WooCommerce store needs both --consumer-key (ck_...) and --consumer-secret "
              "(cs_...): create them in WooCommerce → Settings → Advanced → REST API, "
              "with Read/Write permission")
    click.echo(f"Checking the keys with {store} ...")
    try:
        shop = connect_woocommerce_by_keys(db.session, store, consumer_key, consumer_secret)
    except ShopError as exc:
        _fail(str(exc))
    install_builtin_flows(db.session, shop.id)
    db.session.commit()
    auth = "basic auth over HTTPS" if shop.api_base_url.startswith("https://") else \
        "OAuth 1.0a signatures over plain HTTP (development only)"
    click.echo(f"Connected {shop.domain} (store id {shop.id}, {shop.currency}); using {auth}.")
    app_url = current_app.config["APP_URL"]
    click.echo(f"Creating webhooks pointing at {delivery_url(app_url, shop.id)} ...")
    try:
        result = ensure_webhooks(db.session, shop, woo_client(shop), app_url)
    except HttpError as exc:
        _fail(f"the store is connected, but its webhooks could not be listed or created: {exc}"
              ". Sticky retries every 30 minutes while a worker runs.")
    click.echo(f"Webhooks: {result.summary()}.")
    for topic, reason in result.failed.items():
        hint = " (install and activate the Sticky plugin)" if topic.startswith("sticky_") \
            else ""
        click.echo(f"  {topic}: {reason}{hint}", err=True)


@shops_cli.command("list")
@with_appcontext
def shops_list() -> None:
    """List connected stores."""
    from app.shops.models import Shop

    shops = db.session.execute(select(Shop).order_by(Shop.id)).scalars().all()
    if not shops:
        click.echo("No stores connected. Add one with `flask --app app shops add`.")
        return
    rows = [(str(shop.id), shop.platform, shop.domain, shop.status) for shop in shops]
    click.echo("\n".join(_table(("ID", "PLATFORM", "DOMAIN", "STATUS"), rows, right=(0,))))


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]],
           right: tuple[int, ...] = ()) -> list[str]:
    """Lines of a plain-text table: columns as wide as their widest cell, two spaces apart,
    the columns in `right` right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(w) if i in right else cell.ljust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(header), *(line(row) for row in rows)]


@shops_cli.command("api-key")
@click.argument("store")
@click.option("--label", help="A note to remember what the key is for.")
@click.option("--revoke", "revoke_id", type=click.IntRange(0, MAX_ID), metavar="ID",
              help="Revoke the key with this id instead.")
@with_appcontext
def shops_api_key(store: str, label: str | None, revoke_id: int | None) -> None:
    """Create an API key for STORE's /api and print it once (or --revoke ID)."""
    from app.shops.service import ShopError, create_api_key, find_shop, revoke_api_key

    try:
        shop = find_shop(db.session, store)
        if revoke_id is not None:
            revoke_api_key(db.session, shop, revoke_id)
            db.session.commit()
            click.echo(f"Revoked API key {revoke_id} of {shop.domain}.")
            return
        row, key = create_api_key(db.session, shop, label)
    except ShopError as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"API key {row.id} for {shop.domain} (shown once; store it now):")
    click.echo(key)
    click.echo("Use it as:  Authorization: Bearer <key>")


@inbox_cli.command("status")
@click.option("--failed", "show_failed", is_flag=True, help="Also list failed deliveries.")
@with_appcontext
def inbox_status(show_failed: bool) -> None:
    """Count deliveries by status; list failures with their reason."""
    from app.inbox.service import counts, latest_failed

    for status, n in sorted(counts(db.session).items()):
        click.echo(f"{status:<10} {n}")
    if show_failed:
        for row in latest_failed(db.session, limit=50):
            when = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"#{row.id} shop {row.shop_id} {row.topic} at {when}: {row.error}")


@inbox_cli.command("retry")
@with_appcontext
def inbox_retry() -> None:
    """Mark failed deliveries pending again and enqueue them."""
    from app.compliance.retry import requeue_failed

    n = requeue_failed(db.session)
    click.echo(f"{n} deliveries queued again")


@click.command("demo")
@click.option("--customers", default=3000, show_default=True, help="Customers to seed.")
@click.option("--rate", default=2.0, show_default=True, help="Simulated webhooks per second.")
@click.option("--port", default=5000, show_default=True)
@click.option("--seed-only", is_flag=True, help="Seed the demo store and exit.")
@with_appcontext
def demo_command(customers: int, rate: float, port: int, seed_only: bool) -> None:
    """Seed a demo store, then run web + worker + a store simulator together."""
    from app.demo import run_demo

    run_demo(current_app._get_current_object(), customers=customers, rate=rate,  # type: ignore
             port=port, seed_only=seed_only)


def register_commands(app: Flask) -> None:
    """The domain's commands. `worker` is the jobs package's (jobs/cli.py), registered as a
    `flask.commands` entry point in pyproject.toml, because the app never imports jobs/."""
    from app.accounts.cli import accounts_cli
    from app.events.cli import events_cli
    from app.imports.cli import import_cli
    from app.predictions.cli import predictions_cli
    from app.sync.cli import backfill_command

    for command in (db_cli, shops_cli, inbox_cli, demo_command, backfill_command,
                    accounts_cli, events_cli, import_cli, predictions_cli):
        app.cli.add_command(command)
    # Every command of the app logs for the person running it. The worker (jobs/cli.py,
    # not in app.cli.commands) configures its own logging: its output is a log.
    for command in app.cli.commands.values():
        _logging_for_people(command)


def _logging_for_people(command: click.Command) -> click.Command:
    """Make `command` (and every subcommand of a group) start by sending log records to the
    terminal as sentences (app.logs): warnings such as a retried HTTP call read as what
    happened, not as a bare event name among the command's output."""
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            _logging_for_people(subcommand)
    callback = command.callback
    if callback is not None and not getattr(callback, "_logs_for_people", False):
        @functools.wraps(callback)
        def run(*args, **kwargs):
            configure_logging(console=True)
            return callback(*args, **kwargs)

        run._logs_for_people = True  # type: ignore[attr-defined]
        command.callback = run
    return command
