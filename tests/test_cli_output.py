"""What a person running `flask --app app ...` sees: no password prompt before a bad email,
a header on `shops list`, and sentences instead of bare log event names."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import responses
from sqlalchemy import select

from app.accounts.models import Account
from app.accounts.service import create_account
from app.db import db
from app.logs import ConsoleFormatter, EventFormatter
from app.shops.service import connect_shopify_by_token
from tests.test_shops_add import ENDPOINT, shop_details

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"


def test_accounts_add_refuses_a_bad_email_before_asking_for_a_password(app, ctx):
    result = app.test_cli_runner().invoke(args=["accounts", "add", "bad-email"],
                                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 2
    assert "Enter a valid email address" in result.output
    assert "Password" not in result.output  # never prompted
    db.session.close()
    assert db.session.execute(select(Account)).first() is None


def test_accounts_add_refuses_a_taken_email_before_asking_for_a_password(app, ctx):
    create_account(db.session, "ops@example.com", PASSWORD)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["accounts", "add", "OPS@example.com"],
                                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 2
    assert "already exists" in result.output
    assert "Password" not in result.output


def test_accounts_add_with_a_good_email_still_asks_twice(app, ctx):
    result = app.test_cli_runner().invoke(args=["accounts", "add", "new@example.com"],
                                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password:" in result.output and "Repeat for confirmation:" in result.output
    db.session.close()
    assert db.session.execute(select(Account.email)).scalar_one() == "new@example.com"


def test_set_password_for_an_unknown_account_says_so_before_prompting(app, ctx):
    result = app.test_cli_runner().invoke(args=["accounts", "set-password", "who@example.com"],
                                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 2
    assert "no account for who@example.com" in result.output
    assert "Password" not in result.output


def test_shops_list_has_an_aligned_header(app, ctx):
    connect_shopify_by_token(db.session, "a.myshopify.com", "shpat_a")
    connect_shopify_by_token(db.session, "a-much-longer-store-name.myshopify.com", "shpat_b")
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["shops", "list"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["ID", "PLATFORM", "DOMAIN", "STATUS"]
    assert len(rows) == 2
    for row in rows:
        # every value starts under its heading (ids are right-aligned under "ID")
        assert row.index("shopify") == header.index("PLATFORM")
        assert row.index(".myshopify.com") > header.index("DOMAIN")
        assert row.split()[2].startswith(row[header.index("DOMAIN"):].split()[0])
        assert row.index("active") == header.index("STATUS")
        assert row[:header.index("ID") + 2].strip().isdigit()


@responses.activate
def test_a_retried_call_reads_as_a_sentence_on_the_console(app, ctx):
    # Shopify answers 503 once (Retry-After: 0), then the shop: the retry is logged.
    responses.post(ENDPOINT, status=503, headers={"Retry-After": "0"}, body="busy")
    responses.post(ENDPOINT, json=shop_details())
    result = app.test_cli_runner().invoke(args=["shops", "add", "cool-shop.myshopify.com",
                                                "--token", "shpat_x"])
    assert result.exit_code == 0, result.output
    assert ("warning: cool-shop.myshopify.com/admin/api/2026-10/graphql.json answered 503; "
            "trying again in 0.0 s") in result.stderr
    assert "http.retry" not in result.output


def _record(event: str, level: int = logging.WARNING, exc_info=None, **fields) -> logging.LogRecord:
    record = logging.LogRecord("connectors.http", level, __file__, 1, event, (), exc_info)
    record.__dict__.update(fields)
    return record


def test_console_formatter_sentences_and_fallbacks():
    console = ConsoleFormatter()
    assert console.format(_record("http.transport_retry", url="x.example/a", wait=0.25)) == (
        "warning: could not reach x.example/a; trying again in 0.2 s")
    # an event without a sentence: its name in words, with its fields
    assert console.format(_record("woocommerce.callback.replayed", request=7)) == (
        "warning: woocommerce: callback replayed (request=7)")
    # a sentence whose fields are missing falls back rather than raising
    assert console.format(_record("http.retry", url="x")) == "warning: http: retry (url=x)"
    try:
        raise ConnectionError("refused")
    except ConnectionError:
        text = console.format(_record("inbox.apply_failed", logging.ERROR, sys.exc_info()))
    assert text == "error: inbox: apply failed: ConnectionError: refused"
    assert "Traceback" not in text


def test_event_formatter_keeps_the_event_name_and_its_fields():
    line = EventFormatter().format(_record("http.retry", url="x.example/a", status=503,
                                           wait=1.5, note="two words"))
    assert line.endswith("WARNING connectors.http http.retry url=x.example/a status=503 "
                         "wait=1.5 note='two words'")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_cli_run_prints_sentences_not_event_names(app, tmp_path):
    # A real `flask` process (no test harness handlers): an unreachable store is retried.
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLASK_APP")}
    env["DATABASE_URL"] = app.config["DATABASE_URL"]
    factory = f"app:create_app({{'INSTANCE_PATH': {str(tmp_path / 'instance')!r}}})"
    port = _closed_port()
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", factory, "shops", "add",
         f"https://127.0.0.1:{port}", "--consumer-key", "ck_x", "--consumer-secret", "cs_x"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"warning: could not reach 127.0.0.1:{port}/wp-json/wc/v3/" in done.stderr
    assert "trying again in" in done.stderr
    assert "http.transport_retry" not in done.stderr + done.stdout
    assert "the store could not be reached" in done.stderr
