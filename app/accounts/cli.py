"""`flask --app app accounts ...`: manage standalone-panel accounts from the command line."""

from __future__ import annotations

import sys

import click
from flask import current_app, has_app_context
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from sqlalchemy import select

from app.accounts.links import LINK_LIFETIME, create_sign_in_link
from app.accounts.models import Account
from app.accounts.service import (
    AccountError,
    check_new_email,
    create_account,
    link_account_to_shop,
    linked_shop,
    normalize_email,
    set_password,
    stores_for,
)
from app.db import db

accounts_cli = AppGroup("accounts", help="Standalone panel accounts (WooCommerce merchants).")


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _account(email: str) -> Account:
    account = db.session.execute(
        select(Account).where(Account.email_normalized == normalize_email(email))
    ).scalar_one_or_none()
    if account is None:
        _fail(f"no account for {email}; create it with `accounts add {email}`")
    assert account is not None
    return account


def _in_app_context(ctx: click.Context) -> None:
    # `flask` pushes the app context before parsing parameters; a bare click runner may not.
    if not has_app_context():
        ctx.with_resource(ctx.ensure_object(ScriptInfo).load_app().app_context())


def _email_for_new_account(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Checked while parsing, so a bad or taken email is refused before the password prompt."""
    _in_app_context(ctx)
    try:
        check_new_email(db.session, value)
    except AccountError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None
    return value


def _email_of_an_account(ctx: click.Context, param: click.Parameter, value: str) -> str:
    _in_app_context(ctx)
    _account(value)
    return value


@accounts_cli.command("add")
@click.argument("email", callback=_email_for_new_account)
@click.password_option(help="The password (prompted, hidden, asked twice, when omitted).")
@with_appcontext
def accounts_add(email: str, password: str) -> None:
    """Create an account that signs in at /admin/login."""
    try:
        account = create_account(db.session, email, password)
    except AccountError as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"account {account.id} created for {account.email}; sign in at /admin/login")


@accounts_cli.command("set-password")
@click.argument("email", callback=_email_of_an_account)
@click.password_option(help="The new password (prompted when omitted).")
@with_appcontext
def accounts_set_password(email: str, password: str) -> None:
    """Replace an account's password and sign it out everywhere."""
    account = _account(email)
    try:
        set_password(account, password)
    except AccountError as exc:
        _fail(str(exc))
    db.session.commit()
    click.echo(f"password changed for {account.email}; existing sessions are signed out")


@accounts_cli.command("link")
@click.argument("email")
@click.argument("store")
@with_appcontext
def accounts_link(email: str, store: str) -> None:
    """Let the account EMAIL open STORE (domain or id) in the panel."""
    from app.shops.service import ShopError, find_shop

    account = _account(email)
    try:
        shop = find_shop(db.session, store)
    except ShopError as exc:
        _fail(str(exc))
    link_account_to_shop(db.session, account.id, shop.id)
    db.session.commit()
    click.echo(f"{account.email} can now open {shop.domain}")


@accounts_cli.command("sign-in-link")
@click.argument("email", callback=_email_of_an_account)
@click.option("--store", help="The store (domain or id) the link opens. Default: the "
                              "account's store, when it has exactly one.")
@with_appcontext
def accounts_sign_in_link(email: str, store: str | None) -> None:
    """Print a link that signs EMAIL in to the panel: it works once, within 15 minutes.

    The link starts with APP_URL (the address people open Sticky at).
    """
    from app.shops.service import ShopError, find_shop

    account = _account(email)
    shop_id: int | None = None
    if store:
        try:
            shop = find_shop(db.session, store)
        except ShopError as exc:
            _fail(str(exc))
        if linked_shop(db.session, account.id, shop.id) is None:
            _fail(f"{account.email} cannot open {shop.domain}; link it first with "
                  f"`accounts link {account.email} {shop.domain}`")
        shop_id = shop.id
    else:
        stores = stores_for(db.session, account.id)
        if len(stores) == 1:
            shop_id = stores[0].shop.id
    link = create_sign_in_link(db.session, account.id, shop_id)
    db.session.commit()
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    click.echo(f"Sign-in link for {account.email} (works once, within {minutes} minutes):")
    click.echo(link.url(current_app.config["APP_URL"]))
