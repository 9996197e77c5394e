"""`flask --app app import customers|orders STORE FILE.csv` as a merchant would use it."""

from __future__ import annotations

import csv

from app.db import db
from app.profiles.models import Customer
from tests.imports.support import count, customer

FILE = ("E-mail Address,Given,Accepts Email Marketing\n"
        "ada@example.com,Ada,yes\n"
        "nope,Bob,no\n"
        "carl@example.com,Carl,\n")


def _file(tmp_path, text: str = FILE, name: str = "contacts.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _invoke(app, *args):
    db.session.close()
    return app.test_cli_runner().invoke(args=["import", *args])


def test_dry_run_prints_the_report_and_writes_nothing(app, shop, tmp_path):
    result = _invoke(app, "customers", shop.domain, _file(tmp_path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "'E-mail Address' → email" in result.output
    assert "Ignored columns (map them with --map COLUMN=FIELD): 'Given'" in result.output
    assert "3 rows: 2 new, 0 merged, 0 unchanged, 1 rejected, 0 duplicates." in result.output
    assert "line 3: email 'nope' is not a valid address" in result.output
    assert "Dry run: nothing was written." in result.output
    assert count(Customer) == 0


def test_import_with_a_mapping_override(app, shop, tmp_path):
    result = _invoke(app, "customers", str(shop.id), _file(tmp_path), "--map", "Given=first_name")
    assert result.exit_code == 0, result.output
    assert "Done: 2 new, 0 merged, 0 unchanged" in result.output
    assert customer(shop, "ada@example.com").first_name == "Ada"
    assert customer(shop, "ada@example.com").email_marketing == "subscribed"
    # run again: nothing new
    again = _invoke(app, "customers", str(shop.id), _file(tmp_path), "--map", "Given=first_name")
    assert "Done: 0 new, 0 merged, 2 unchanged" in again.output
    assert count(Customer) == 2


def test_rejections_listed_to_a_file(app, shop, tmp_path):
    report = tmp_path / "report.csv"
    rows = "Email\n" + "".join(f"bad{n}\n" for n in range(30)) + "ok@example.com\n"
    result = _invoke(app, "customers", shop.domain, _file(tmp_path, rows), "--dry-run",
                     "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "... and 10 more (--verbose or --report FILE lists them all)" in result.output
    with open(report, newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["line", "outcome", "reason"]
    assert len(lines) == 31 and lines[1][:2] == ["2", "rejected"]


def test_orders_import(app, shop, tmp_path):
    text = "Order ID,Email,Total,Date\nA-1,ada@example.com,12.00,2025-02-01\n"
    result = _invoke(app, "orders", shop.domain, _file(tmp_path, text))
    assert result.exit_code == 0, result.output
    assert customer(shop, "ada@example.com").orders_count == 1


def test_bad_usage_exits_non_zero_with_a_message(app, shop, tmp_path):
    unknown = _invoke(app, "customers", "nowhere.myshopify.com", _file(tmp_path))
    assert unknown.exit_code == 2 and "no connected store" in unknown.output
    bad_map = _invoke(app, "customers", shop.domain, _file(tmp_path), "--map", "Given")
    assert bad_map.exit_code == 2 and "COLUMN=FIELD" in bad_map.output
    no_email = _invoke(app, "customers", shop.domain, _file(tmp_path, "Name\nAda\n"))
    assert no_email.exit_code == 2
    assert "no column is mapped to email" in no_email.output
    empty = _invoke(app, "orders", shop.domain, _file(tmp_path, ""))
    assert empty.exit_code == 2 and "the file is empty" in empty.output
    missing = _invoke(app, "orders", shop.domain, str(tmp_path / "absent.csv"))
    assert missing.exit_code == 2
    all_bad = _invoke(app, "customers", shop.domain, _file(tmp_path, "Email\nbad\n"))
    assert all_bad.exit_code == 1 and "nothing to import" in all_bad.output


def test_running_the_command_again_resumes_a_stopped_import(app, shop, tmp_path,
                                                           monkeypatch):
    from app.imports import apply

    path = _file(tmp_path, "Email\n" + "".join(f"p{n}@example.com\n" for n in range(5)))
    monkeypatch.setattr(apply, "CHUNK_SIZE", 2)
    calls = []

    def fail_second(_run):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setitem(apply.checkpoints, "chunk_written", fail_second)
    stopped = _invoke(app, "customers", shop.domain, path)
    assert stopped.exit_code == 1
    assert "the import stopped: disk full" in stopped.output
    assert "run the same command again to resume" in stopped.output
    assert count(Customer) == 2
    monkeypatch.delitem(apply.checkpoints, "chunk_written")
    resumed = _invoke(app, "customers", shop.domain, path)
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming import #1 of this file after 2 of 5 customers" in resumed.output
    assert "Done: 5 new, 0 merged, 0 unchanged" in resumed.output  # the whole run
    assert count(Customer) == 5
