"""Database access: the declarative base, one engine per app, sessions per app context.

`db` is created unbound here and bound in `create_app`; importing this module connects to
nothing. Workers fork, so the engine's pool is reset in every child (see `_after_fork`).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g
from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class plus_days(FunctionElement):  # noqa: N801 - used like a SQL function
    """`plus_days(column, n)`: a UTC datetime column plus n days, in SQL, on both backends
    (PostgreSQL's interval arithmetic; SQLite stores text, so its own date function, giving
    the same text form SQLAlchemy writes, to the millisecond)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "plus_days"


@compiles(plus_days)
def _plus_days_postgresql(element, compiler, **kw):
    column, days = list(element.clauses)
    return (f"({compiler.process(column, **kw)} + make_interval(days => "
            f"CAST({compiler.process(days, **kw)} AS integer)))")


@compiles(plus_days, "sqlite")
def _plus_days_sqlite(element, compiler, **kw):
    column, days = list(element.clauses)
    return (f"(strftime('%Y-%m-%d %H:%M:%f', {compiler.process(column, **kw)}, "
            f"'+' || {compiler.process(days, **kw)} || ' days') || '000')")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def after_commit(session: Session, name: str, items: Iterable[Any],
                 callback: Callable[[list[Any]], None]) -> None:
    """Collect `items` under `name` for the session's current transaction; once it commits,
    `callback(sorted items)` runs (enqueue a job, say), and a rollback of the outermost
    transaction forgets them. Enqueue after commit: a job never runs before its rows exist,
    and nothing is announced that was rolled back."""
    key = f"sticky.after_commit.{name}"
    pending: set[Any] | None = session.info.get(key)
    if pending is None:
        pending = session.info[key] = set()

        def run(_session: Session) -> None:
            collected = sorted(pending)
            pending.clear()
            if collected:
                callback(collected)

        def forget(_session: Session, transaction) -> None:
            if transaction.parent is None:
                pending.clear()

        event.listen(session, "after_commit", run)
        event.listen(session, "after_transaction_end", forget)
    pending.update(items)


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork() -> None:
    # A forked RQ work-horse must never reuse a socket owned by its parent.
    for engine in list(_engines):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling breaks SAVEPOINT; take over BEGIN ourselves.
        # IMMEDIATE takes the write lock up front, so a read-then-write transaction waits
        # for busy_timeout instead of failing with "database is locked".
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)
    _engines.add(engine)
    return engine


class Database:
    """The app's engine and session factory. `db.session` is one session per app context."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.sessionmaker: sessionmaker[Session] | None = None

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        app.extensions["sticky.db"] = self
        app.teardown_appcontext(self._close_session)

    @property
    def dialect(self) -> str:
        assert self.engine is not None, "db is not bound: call create_app()"
        return self.engine.dialect.name

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            assert self.sessionmaker is not None, "db is not bound: call create_app()"
            g.db_session = self.sessionmaker()
        return g.db_session

    @contextmanager
    def new_session(self) -> Iterator[Session]:
        """A session of its own, outside the app-context one (workers, scripts)."""
        assert self.sessionmaker is not None, "db is not bound: call create_app()"
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.close()

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def insert_for(session: Session, table):
    """A dialect-specific INSERT that offers `on_conflict_do_update/nothing`."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect: {name}")


db = Database()
