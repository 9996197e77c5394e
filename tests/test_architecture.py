"""The layering of DESIGN.md, checked: webhooks → jobs → app → connectors, never upwards, no
import cycles, connectors that run on plain values, and jobs enqueued by names that exist.

The contracts live in pyproject.toml ([tool.importlinter]); `lint-imports` checks them.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from click.testing import CliRunner
from flask.cli import FlaskGroup
from sqlalchemy import select

from app.db import db
from app.profiles.models import Customer
from jobs.cli import worker_command
from tests.conftest import post_webhook, shopify_fixture

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "connectors", "jobs", "webhooks")


def lint_imports(config: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "lint-imports"
    assert script.exists(), "import-linter is missing: pip install -e '.[test]' (./dev does)"
    return subprocess.run([str(script), "--config", str(config), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT / "pyproject.toml", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def _renamed(value, prefix: str):
    """A contract setting with every module of PACKAGES renamed `<prefix><name>`."""
    if isinstance(value, list):
        return [_renamed(item, prefix) for item in value]
    if isinstance(value, str) and value.split(".")[0] in PACKAGES:
        return prefix + value
    return value


def test_the_contracts_catch_what_they_forbid(tmp_path):
    """The same contracts, on a small tree that breaks each one, report each one broken."""
    tree = {
        "connectors/__init__.py": "",
        "connectors/client.py": "import flask\nfrom canary_app import models\n",
        "app/__init__.py": "",
        "app/models.py": "",
        "app/cli.py": "import canary_jobs.worker\n",
        "app/orders/__init__.py": "",
        "app/orders/service.py": "from canary_app.carts import service\n",
        "app/carts/__init__.py": "",
        "app/carts/service.py": "from canary_app.orders import service\n",
        "jobs/__init__.py": "",
        "jobs/worker.py": "import canary_app.models\n",
        "webhooks/__init__.py": "",
    }
    for name, text in tree.items():
        path = tmp_path / f"canary_{name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ["[tool.importlinter]"]
    for key, value in settings.items():
        if key != "contracts":
            lines.append(f"{key} = {json.dumps(_renamed(value, 'canary_'))}")
    for contract in settings["contracts"]:
        lines.append("[[tool.importlinter.contracts]]")
        lines += [f"{key} = {json.dumps(_renamed(value, 'canary_'))}"
                  for key, value in contract.items()]
    config = tmp_path / "canary.toml"
    config.write_text("\n".join(lines) + "\n")

    result = lint_imports(config, tmp_path)

    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    assert "0 kept, 3 broken" in report
    assert "canary_connectors is not allowed to import canary_app" in report
    assert "canary_app is not allowed to import canary_jobs" in report
    assert "canary_connectors is not allowed to import flask" in report
    assert "No cycles are allowed in canary_app" in report


# Run in a fresh interpreter in which the domain, the web framework, the database and the
# queue cannot be imported at all; the connector tests must pass anyway.
_WITHOUT_THE_APP = """
import importlib.abc, sys

REFUSED = {"app", "jobs", "webhooks", "flask", "sqlalchemy", "psycopg", "redis", "rq"}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            raise ImportError(f"{name} is not importable in a connector test")
        return None

sys.meta_path.insert(0, Refuse())
try:
    import app  # noqa: F401
except ImportError:
    pass
else:
    sys.exit("the import guard does not work")
import pytest
sys.exit(pytest.main(["-p", "no:cacheprovider", "--noconftest", "tests/connectors"]))
"""


def test_connector_tests_run_without_the_app_database_or_redis():
    result = subprocess.run([sys.executable, "-c", _WITHOUT_THE_APP], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    passed = re.search(r"(\d+) passed", report)
    assert passed and int(passed.group(1)) >= 5, report  # exit 0 with nothing run is no proof


def _job_names_in_source() -> set[str]:
    """Every string constant of the form `jobs.<module>.<function>` in app/, webhooks/, jobs/."""
    names = set()
    for package in ("app", "webhooks", "jobs"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                        and re.fullmatch(r"jobs(\.[a-z_]+){2,}", node.value):
                    names.add(node.value)
    return names


def test_every_job_enqueued_by_name_exists():
    names = _job_names_in_source()
    # The app enqueues these by name (it never imports jobs/); the scan must see them.
    assert {"jobs.ingest.drain_shop", "jobs.woocommerce.confirm_connection",
            "jobs.sync.run_backfill", "jobs.compliance.handle_lifecycle_delivery",
            "jobs.woocommerce.refresh_orders"} <= names
    for name in sorted(names):
        module, _, function = name.rpartition(".")
        assert callable(getattr(importlib.import_module(module), function, None)), name


def test_flask_offers_the_jobs_packages_worker_command(app):
    group = FlaskGroup(create_app=lambda: app)

    with group.make_context("flask", ["worker"]) as ctx:
        command = group.get_command(ctx, "worker")
    result = CliRunner().invoke(group, ["worker", "--help"])

    assert command is worker_command  # from the flask.commands entry point
    assert "worker" not in app.cli.commands  # app/ does not provide it
    assert result.exit_code == 0 and "--burst" in result.output, result.output


def test_flask_worker_burst_drains_the_queues(app, client, shop):
    # given a stored delivery whose drain is queued, and no worker yet
    response = post_webhook(client, "customers/create", shopify_fixture("customers/create"))
    assert response.status_code == 200

    # when `flask --app app worker --burst` runs, with the commands the flask CLI finds
    result = CliRunner().invoke(FlaskGroup(create_app=lambda: app), ["worker", "--burst"])

    # then the queues are drained
    assert result.exit_code == 0, result.output
    with app.app_context():
        emails = db.session.execute(select(Customer.email)).scalars().all()
    assert emails == [shopify_fixture("customers/create")["email"]]
