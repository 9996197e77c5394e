"""`./dev flask ...`: any Flask CLI command, run in the project's .venv (created and installed
first when missing), with `--app app` implied, so the README's commands work from a fresh
clone without activating anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app.db import db
from app.shops.service import connect_shopify_by_token

REPO = Path(__file__).resolve().parents[1]


def run_dev(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO / "dev"), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def env(app, tmp_path):
    # No venv on PATH: the script must find its own. The subprocess reads the test database.
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not p.startswith(str(REPO / ".venv")))
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "FLASK_APP", "REDIS_URL")}
    env.update(PATH=path, DATABASE_URL=app.config["DATABASE_URL"])
    return env


@pytest.fixture
def a_store(ctx):
    connect_shopify_by_token(db.session, "dev-script.myshopify.com", "shpat_x")
    db.session.commit()
    db.session.close()


def test_dev_flask_runs_a_command_of_the_app(env, tmp_path, a_store):
    factory = f"app:create_app({{'INSTANCE_PATH': {str(tmp_path / 'instance')!r}}})"
    for args in (("flask", "--app", factory, "shops", "list"),   # the README's spelling
                 ("flask", "shops", "list")):                   # `--app` implied
        run_env = dict(env) if "--app" in args else dict(env, FLASK_APP=factory)
        done = run_dev(*args, env=run_env)
        assert done.returncode == 0, done.stderr
        assert "dev-script.myshopify.com" in done.stdout
        assert done.stdout.splitlines()[0].split() == ["ID", "PLATFORM", "DOMAIN", "STATUS"]


def test_dev_flask_implies_the_app(env):
    # Without FLASK_APP or --app, `flask` alone would not know Sticky's commands.
    done = run_dev("flask", "shops", "--help", env=env)
    assert done.returncode == 0, done.stderr
    assert "Connect stores and manage their API keys" in done.stdout


def test_dev_without_a_command_lists_flask_among_its_uses(env):
    done = run_dev(env=env)
    assert done.returncode == 2
    assert "./dev flask COMMAND" in done.stderr
