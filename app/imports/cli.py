"""`flask --app app import customers|orders STORE FILE.csv [--dry-run] [--map COLUMN=FIELD ...]`."""

from __future__ import annotations

import csv
import inspect
import sys
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from app.db import db
from app.imports.mapping import FIELDS, MappingError, parse_overrides

import_cli = AppGroup("import", help="Migration import of customers or orders from another "
                                     "tool's CSV export.")

SHOWN_REJECTIONS = 20


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _fields_help(kind: str) -> str:
    return ", ".join(f.name + ("*" if f.required else "") for f in FIELDS[kind])


def _options(command):
    command = click.option("--dry-run", is_flag=True,
                           help="Check the file and report what would happen; write nothing.")(
        command)
    command = click.option("--map", "maps", multiple=True, metavar="COLUMN=FIELD",
                           help="Map a column to a field (or to `ignore`); repeatable.")(command)
    command = click.option("--verbose", "-v", is_flag=True,
                           help="List every rejected line, not only the first "
                                f"{SHOWN_REJECTIONS}.")(command)
    command = click.option("--report", "report_path", type=click.Path(dir_okay=False),
                           help="Also write every rejected and duplicate line to this CSV.")(
        command)
    command = click.option("--restart", is_flag=True,
                           help="Start over instead of resuming an unfinished import of the "
                                "same file.")(command)
    return command


@import_cli.command("customers")
@click.argument("store")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_options
@with_appcontext
def import_customers(store, file, dry_run, maps, verbose, report_path, restart) -> None:
    """Import customers into STORE (id or domain) from FILE.csv.

    \b
    Columns are matched to fields from their header (Shopify, Klaviyo, Mailchimp,
    WooCommerce exports are recognised); fields (* = required):
    """
    _run("customers", store, file, dry_run, maps, verbose, report_path, restart)


@import_cli.command("orders")
@click.argument("store")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@_options
@with_appcontext
def import_orders(store, file, dry_run, maps, verbose, report_path, restart) -> None:
    """Import orders into STORE (id or domain) from FILE.csv.

    \b
    Rows with the same order id are one order (one row per line item). Fields
    (* = required):
    """
    _run("orders", store, file, dry_run, maps, verbose, report_path, restart)


import_customers.help = inspect.cleandoc(import_customers.help or "") + "\n" + \
    _fields_help("customers") + "\n\nMatched by email into existing profiles, filling only " \
    "empty fields; the later of two lines with one email wins. Dates without a zone are in " \
    "the store's time zone."
import_orders.help = inspect.cleandoc(import_orders.help or "") + "\n" + \
    _fields_help("orders") + "\n\nOrders count in every figure but award no points and " \
    "start no flows. Amounts must be in the store's currency."


def _run(kind, store, file, dry_run, maps, verbose, report_path, restart) -> None:
    from tqdm import tqdm

    from app.imports.apply import ImportBusy, run_import
    from app.imports.models import FAILED
    from app.imports.service import ImportFileError, create_run, prepare, unfinished_run
    from app.shops.service import ShopError, find_shop

    session = db.session
    try:
        shop = find_shop(session, store)
        overrides = parse_overrides(maps)
    except (ShopError, MappingError) as exc:
        _fail(str(exc))
    content = Path(file).read_bytes()
    try:
        prepared = prepare(session, shop, kind, content, overrides)
    except ImportFileError as exc:
        _fail(f"{file}: {exc}")
    _print_report(prepared.report, verbose)
    if report_path:
        _write_report(report_path, prepared.report)
        click.echo(f"Every rejected and duplicate line is listed in {report_path}.")
    if dry_run:
        click.echo("Dry run: nothing was written.")
        return
    if not prepared.validated.items:
        _fail("nothing to import: every line was rejected", 1)
    run = None if restart else unfinished_run(session, shop.id, kind, prepared.sha256)
    if run is not None:
        click.echo(f"Resuming import #{run.id} of this file after {run.cursor} of {run.total} "
                   f"{kind} (use --restart to start over).")
    else:
        if restart:
            previous = unfinished_run(session, shop.id, kind, prepared.sha256)
            if previous is not None:
                previous.status, previous.error = FAILED, "superseded by a restart"
        run = create_run(session, shop, prepared, filename=Path(file).name)
    bar = tqdm(total=run.total, initial=run.cursor, unit=f" {kind}", dynamic_ncols=True,
               desc=shop.domain)

    def show(current) -> None:
        bar.n = current.cursor
        bar.refresh()

    try:
        run = run_import(session, run.id, on_progress=show)
    except ImportBusy as exc:
        bar.close()
        _fail(str(exc), 1)
    except Exception as exc:  # noqa: BLE001 - the run records it; say how to go on
        bar.close()
        _fail(f"the import stopped: {exc}\nProgress so far is saved; run the same command "
              "again to resume.", 1)
    bar.close()
    click.echo(f"Done: {run.created} new, {run.merged} merged, {run.unchanged} unchanged, "
               f"{run.skipped} skipped (changed since the check) {kind} for {shop.domain}.")


def _print_report(report: dict, verbose: bool) -> None:
    for column, field in report["mapping"].items():
        click.echo(f"  {column!r} → {field}")
    if report["ignored_columns"]:
        click.echo("Ignored columns (map them with --map COLUMN=FIELD): "
                   + ", ".join(repr(c) for c in report["ignored_columns"]))
    for note in report["notes"]:
        click.echo(f"Note: {note}")
    counts = report["counts"]
    line = (f"{report['rows']} rows: {counts['new']} new, {counts['merged']} merged, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected, "
            f"{counts['duplicates']} duplicates")
    if report["kind"] == "orders":
        line += f"; {report['customers_created']} new customers from the orders"
    click.echo(line + ".")
    problems = report["rejections"]
    shown = problems if verbose else problems[:SHOWN_REJECTIONS]
    for problem in shown:
        click.echo(f"  line {problem['line']}: {problem['reason']}")
    if len(problems) > len(shown):
        click.echo(f"  ... and {len(problems) - len(shown)} more (--verbose or --report FILE "
                   "lists them all)")
    duplicates = report["duplicates"]
    for problem in duplicates if verbose else duplicates[:5]:
        click.echo(f"  line {problem['line']}: {problem['reason']}")


def _write_report(path: str, report: dict) -> None:
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "outcome", "reason"])
        rows = [(p["line"], "rejected", p["reason"]) for p in report["rejections"]]
        rows += [(p["line"], "duplicate", p["reason"]) for p in report["duplicates"]]
        writer.writerows(sorted(rows))
