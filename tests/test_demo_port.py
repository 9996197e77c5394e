"""The demo on a port that is taken: a clear message suggesting `--port`, never a traceback.

Real sockets occupy the port; the early-exit case runs the real gunicorn command line the
demo uses, without the rest of the demo.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.db import db
from app.demo import DemoError, run_demo
from app.demo.processes import start_child, subprocess_env, wait_until_serving, web_argv
from app.shops.models import Shop


@contextmanager
def listening(host: str = "127.0.0.1") -> Iterator[int]:
    """A port something already listens on (and never answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        sock.listen()
        yield sock.getsockname()[1]


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}')

    def log_message(self, *args):
        pass


@contextmanager
def another_healthy_server() -> Iterator[int]:
    """A port taken by another web server that answers /healthz with 200, as another Sticky
    demo would."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _suggested_port(message: str) -> int:
    match = re.search(r"--port (\d+)", message)
    assert match, message
    return int(match.group(1))


def _is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])  # noqa: S104 - a test listener
def test_a_busy_port_is_reported_before_seeding_with_a_free_port_to_use(ctx, host):
    with listening(host) as port:
        with pytest.raises(DemoError) as raised:
            run_demo(ctx, customers=20, port=port)
        message = raised.value.message
        assert f"port {port} on 127.0.0.1 is already in use" in message
        suggested = _suggested_port(message)
        assert suggested != port and _is_free(suggested)
    # and nothing was done before saying so
    assert db.session.execute(select(func.count()).select_from(Shop)).scalar_one() == 0


def test_the_demo_command_on_a_busy_port_says_so_without_a_traceback(app, ctx):
    with listening() as port:
        result = app.test_cli_runner().invoke(args=["demo", "--customers", "20",
                                                    "--port", str(port)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: port {port} on 127.0.0.1 is already in use")
    assert "./dev demo --port " in result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("port", [0, 70000])
def test_a_port_out_of_range_is_refused(ctx, port):
    with pytest.raises(DemoError, match="--port must be between 1 and 65535"):
        run_demo(ctx, customers=20, port=port)


def test_gunicorn_exiting_on_a_port_taken_meanwhile_is_explained(app, tmp_path):
    # given a port taken, after the demo's check, by a server that answers /healthz with 200
    # (so an answer on the port proves nothing), and a log with an earlier run's lines
    gunicorn = Path(sys.executable).parent / "gunicorn"
    log_dir = tmp_path
    with another_healthy_server() as port:
        (log_dir / "demo-web.log").write_text(
            f"[INFO] Listening at: http://127.0.0.1:{port} (1)\n")
        # when the demo's web server is started on it
        web = start_child("web", web_argv(gunicorn, port), subprocess_env(app), log_dir)
        try:
            with pytest.raises(DemoError) as raised:
                wait_until_serving(web, port, timeout=60)
        finally:
            if web.proc.poll() is None:
                web.proc.kill()
            web.proc.wait(10)
    # then gunicorn gave up, and the user is told why and what to do
    assert web.proc.returncode != 0
    assert "Connection in use" in web.output()
    message = raised.value.message
    assert message.startswith(f"port {port} on 127.0.0.1 is already in use (the web server "
                              "could not listen on it)")
    assert "Traceback" not in message
    assert _suggested_port(message) != port
