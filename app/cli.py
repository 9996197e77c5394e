"""`flask --app app ...` commands (DESIGN.md, "Commands")."""

from __future__ import annotations

import sys
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from app.db import db

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
@click.option("--currency", default="USD", show_default=True, help="The shop's currency.")
@with_appcontext
def shops_add(store: str, token: str | None, consumer_key: str | None,
              consumer_secret: str | None, currency: str) -> None:
    """Connect a store.

    \b
    Shopify:      flask --app app shops add my-shop.myshopify.com --token shpat_...
    WooCommerce:  flask --app app shops add https://store.example --consumer-key ck_... \\
                      --consumer-secret cs_...
    The credential is stored encrypted with TOKEN_ENCRYPTION_KEY.
    """
    from app.shops.service import ShopError, connect_shopify_by_token

    if consumer_key or consumer_secret:
        if token:
            _fail("give either --token (Shopify) or --consumer-key/--consumer-secret "
                  "(WooCommerce), not both")
        _add_woocommerce_store(store, consumer_key, consumer_secret)
        return
    if not token:
        _fail("give --token for a Shopify store (an Admin API access token)")
    try:
        shop = connect_shopify_by_token(db.session, store, token, currency=currency.upper())
    except ShopError as exc:
        _fail(str(exc))
    db.session.commit()
    app_url = current_app.config["APP_URL"]
    click.echo(f"Connected {shop.domain} (store id {shop.id}).")
    click.echo(f"Point its webhooks at {app_url}/webhooks/shopify")


def _add_woocommerce_store(store: str, consumer_key: str | None,
                           consumer_secret: str | None) -> None:
    """Confirm the keys with an API call, save the store, then create Sticky's webhooks."""
    from app.shops.service import ShopError, connect_woocommerce_by_keys
    from connectors.http import HttpError
    from connectors.woocommerce.client import WooClient
    from connectors.woocommerce.webhooks import delivery_url, ensure_webhooks

    if not consumer_key or not consumer_secret:
        _fail("a WooCommerce store needs both --consumer-key (ck_...) and --consumer-secret "
              "(cs_...): create them in WooCommerce → Settings → Advanced → REST API, "
              "with Read/Write permission")
    click.echo(f"Checking the keys with {store} ...")
    try:
        shop = connect_woocommerce_by_keys(db.session, store, consumer_key, consumer_secret)
    except ShopError as exc:
        _fail(str(exc))
    db.session.commit()
    auth = "basic auth over HTTPS" if shop.api_base_url.startswith("https://") else \
        "OAuth 1.0a signatures over plain HTTP (development only)"
    click.echo(f"Connected {shop.domain} (store id {shop.id}, {shop.currency}); using {auth}.")
    app_url = current_app.config["APP_URL"]
    click.echo(f"Creating webhooks pointing at {delivery_url(app_url, shop.id)} ...")
    try:
        result = ensure_webhooks(db.session, shop, WooClient.for_shop(shop), app_url)
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
    for shop in shops:
        click.echo(f"{shop.id:>4}  {shop.platform:<12} {shop.domain:<40} {shop.status}")


@shops_cli.command("api-key")
@click.argument("store")
@click.option("--label", help="A note to remember what the key is for.")
@click.option("--revoke", "revoke_id", type=int, help="Revoke the key with this id instead.")
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
    from app.inbox.models import FAILED, InboxEntry
    from app.inbox.service import counts

    for status, n in sorted(counts(db.session).items()):
        click.echo(f"{status:<10} {n}")
    if show_failed:
        rows = db.session.execute(
            select(InboxEntry).where(InboxEntry.status == FAILED).order_by(InboxEntry.id.desc())
            .limit(50)
        ).scalars()
        for row in rows:
            when = row.received_at.strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"#{row.id} shop {row.shop_id} {row.topic} at {when}: {row.error}")


@inbox_cli.command("retry")
@with_appcontext
def inbox_retry() -> None:
    """Mark failed deliveries pending again and enqueue them."""
    from app.inbox.queueing import request_drain
    from app.inbox.service import retry_failed, shops_with_stale_pending

    n = retry_failed(db.session)
    for shop_id in shops_with_stale_pending(db.session, timedelta(0)):
        request_drain(shop_id, force=True)
    click.echo(f"{n} deliveries queued again")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues and exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run an RQ worker with the scheduler (periodic sweep, abandoned carts)."""
    from jobs.worker import run_worker

    run_worker(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]


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
    for command in (db_cli, shops_cli, inbox_cli, worker_command, demo_command):
        app.cli.add_command(command)
    from app.sync.cli import backfill_command

    app.cli.add_command(backfill_command)
    from app.accounts.cli import accounts_cli

    app.cli.add_command(accounts_cli)
    from app.events.cli import events_cli

    app.cli.add_command(events_cli)
