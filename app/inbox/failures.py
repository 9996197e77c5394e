"""Why a delivery could not be applied, in words, and which failures are not its fault.

The drain marks a delivery `failed` whenever applying it raised, whatever raised: that is
what keeps one bad body from blocking its store, and it holds without a list of the errors
bad input happens to cause. The one exception is the database itself being unreachable or
busy (a lost connection, a deadlock, a full disk, a shutdown): that says nothing about the
delivery, so it stays pending and the drain is retried (`is_transient`).

Reasons are one line an operator or a merchant can act on (`flask --app app inbox status
--failed` lists them): what could not be done with which topic, then why. They never carry a
traceback or the SQL and its parameters, which may quote personal data.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from connectors.records import PayloadError

MAX_REASON = 500

# PostgreSQL SQLSTATE classes that describe the server's state, not the statement.
_TRANSIENT_CLASSES = frozenset({
    "08",  # connection exception
    "40",  # transaction rollback: serialization failure, deadlock
    "53",  # insufficient resources: disk full, out of memory, too many connections
    "57",  # operator intervention: shutdown, cancelled statement
    "58",  # system error: I/O
})
_TRANSIENT_STATES = frozenset({"55P03"})  # lock_not_available
# SQLite primary result codes that describe the database file or the machine.
_TRANSIENT_SQLITE = frozenset({
    "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_NOMEM", "SQLITE_READONLY", "SQLITE_INTERRUPT",
    "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL",
})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def is_transient(exc: BaseException) -> bool:
    """True when `exc` says the database is unreachable or busy, not that the work is wrong."""
    if isinstance(exc, DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    driver_error = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(driver_error, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in _TRANSIENT_CLASSES or sqlstate in _TRANSIENT_STATES
    sqlite_name = getattr(driver_error, "sqlite_errorname", None)
    if sqlite_name:
        return "_".join(sqlite_name.split("_")[:2]) in _TRANSIENT_SQLITE
    # A driver error with no server state is the client's side of a lost or refused
    # connection (psycopg raises OperationalError without a SQLSTATE for those).
    return isinstance(exc, OperationalError)


def clean(text: str) -> str:
    """One printable line of at most MAX_REASON characters (storable on any database)."""
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= MAX_REASON else line[:MAX_REASON - 1] + "…"


def database_message(exc: DBAPIError) -> str:
    """The database's own words for a refused statement, without the SQL or its values."""
    driver_error = exc.orig
    diag = getattr(driver_error, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        where = [f"column {diag.column_name}" if diag.column_name else "",
                 f"table {diag.table_name}" if diag.table_name else ""]
        where = [w for w in where if w]
        return primary + (f" ({' of '.join(where)})" if where else "")
    lines = str(driver_error).strip().splitlines()
    return lines[0] if lines else type(driver_error).__name__


def explain(exc: BaseException) -> str:
    """Why, in a few words: a payload error's own sentence, or the kind of failure."""
    if isinstance(exc, PayloadError):
        return str(exc)
    if isinstance(exc, DBAPIError):
        return f"the database refused it: {database_message(exc)}"
    if isinstance(exc, RecursionError):
        return "it is nested too deeply to read"
    message = str(exc).strip()
    return f"unexpected {type(exc).__name__}" + (f": {message}" if message else "")


def unreadable(topic: str, exc: BaseException) -> str:
    """The reason for a body the connector could not turn into records."""
    return clean(f"cannot read {topic} payload: {explain(exc)}")


def unappliable(topic: str, exc: BaseException) -> str:
    """The reason for records the profile store could not apply or write."""
    if isinstance(exc, PayloadError):
        return unreadable(topic, exc)
    verb = "store" if isinstance(exc, DBAPIError) else "apply"
    return clean(f"cannot {verb} {topic} delivery: {explain(exc)}")


def not_json(exc: Exception) -> str:
    """The reason for a body that is not JSON at all (orjson names what it tripped on)."""
    what = str(exc).split(":", 1)[0].strip()
    return clean("body is not valid JSON" + (f" ({what})" if what else ""))
