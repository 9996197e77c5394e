"""`flask --app app predictions fit STORE [--as-of DATE] [--json]` (DESIGN.md)."""

from __future__ import annotations

import json
import sys
from datetime import date

import click
from flask.cli import AppGroup, with_appcontext

from app.db import db

predictions_cli = AppGroup("predictions", help="Per-customer predictions (BG/NBD + Gamma-Gamma).")


@predictions_cli.command("fit")
@click.argument("store")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="Fit on the orders up to the end of this UTC day (default: today).")
@click.option("--json", "as_json", is_flag=True, help="Print the model as the API returns it.")
@with_appcontext
def fit_command(store: str, as_of: str | None, as_json: bool) -> None:
    """Fit the models on STORE's orders, score its customers and print the parameters.

    Exits with status 1 when the store is below the gate (the message says which figure
    is short) or the fit failed."""
    from app.predictions.service import refit
    from app.predictions.views import MEANINGS, model_json
    from app.shops.service import ShopError, find_shop

    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of.strip())
        except ValueError:
            click.echo(f"Error: --as-of {as_of!r} is not a date (YYYY-MM-DD).", err=True)
            sys.exit(2)
    try:
        shop = find_shop(db.session, store)
    except ShopError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    model = refit(db.session, shop.id, as_of=day)
    db.session.commit()
    body = model_json(model)
    if as_json:
        click.echo(json.dumps(body, indent=2))
    elif model.status != "fitted":
        click.echo(f"{shop.domain}: {model.reason}", err=True)
    else:
        bg, gg = body["bgnbd"], body["gamma_gamma"]
        click.echo(f"{shop.domain}: fitted on orders up to {body['as_of']} "
                   f"({model.buyers} buyers, {model.repeat_buyers} repeat buyers, "
                   f"{model.history_days} days of history) in {model.fit_seconds:.2f} s")
        click.echo(f"BG/NBD (time unit: {bg['time_unit']}):")
        for key in ("r", "alpha", "a", "b"):
            click.echo(f"  {key:<6} {bg[key]:10.4f}  {MEANINGS[key]}")
        click.echo(f"  log-likelihood {bg['log_likelihood']:.2f}")
        if gg is None:
            click.echo(f"Gamma-Gamma: not usable ({model.reason})")
        else:
            click.echo("Gamma-Gamma:")
            for key in ("p", "q", "gamma"):
                click.echo(f"  {key:<6} {gg[key]:10.4f}  {MEANINGS[key]}")
        click.echo(f"{model.scored_customers} customers scored.")
    if model.status != "fitted":
        sys.exit(1)
