"""Inserting many rows at once: PostgreSQL `COPY` for big batches, executemany otherwise.

`COPY ... FROM STDIN` (psycopg's `Cursor.copy`) runs inside the current transaction and moves
rows several times faster than multi-row INSERTs, which psycopg must also re-parse per batch.
Values go through the same bind processing as an INSERT (so `UTCDateTime` still refuses naive
datetimes and JSON is serialized the same way), and Python-side column defaults are filled in,
because `COPY` only knows server defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC
from operator import itemgetter
from typing import Any

import orjson
import psycopg
from psycopg.copy import LibpqWriter
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.db import UTCDateTime

# Below this many rows an executemany INSERT costs about the same and needs no staging.
COPY_MIN_ROWS = 64

# A plan turns one row dict into the tuple COPY writes: the column names, and a function.
_Plan = tuple[list[str], Callable[[dict[str, Any]], list[Any]]]
_plans: dict[tuple[str, frozenset[str], str], _Plan] = {}


def _plan(table: Table, keys: frozenset[str], conn: Connection) -> _Plan:
    """Columns to send and how to build each row's values, cached per table and row shape.

    Most values go out as they are (one `itemgetter` call per row); only columns with a bind
    processor or a Python-side default cost a Python call each.
    """
    cache_key = (table.name, keys, conn.dialect.name)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    given: list[str] = []  # columns the rows carry; their values come first
    defaulted: list[tuple[str, Any]] = []  # columns filled from a Python-side default
    processors: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        default = column.default
        if column.name in keys:
            given.append(column.name)
        elif default is not None and not default.is_sequence:
            defaulted.append((column.name, default))
        else:
            continue  # NULL, or the server fills it (a serial id)
        if isinstance(column.type.dialect_impl(conn.dialect), JSON):
            process = _jsonb  # psycopg adapts JSON itself; COPY needs the wrapper
        else:
            process = column.type.bind_processor(conn.dialect)
            if process is not None and isinstance(column.type, UTCDateTime):
                process = _utc_first(process)
        if process is not None:
            processors[column.name] = process
    names = given + [name for name, _ in defaulted]
    processed = [(index, processors[name]) for index, name in enumerate(names)
                 if name in processors]
    produce = [default.arg if default.is_callable else (lambda _ctx, c=default.arg: c)
               for _, default in defaulted]
    get = itemgetter(*given) if len(given) > 1 else (lambda row, k=given[0]: (row[k],))

    def values(row: dict[str, Any]) -> list[Any]:
        out = list(get(row))
        for make in produce:
            out.append(make(None))
        for index, process in processed:
            out[index] = process(out[index])
        return out

    _plans[cache_key] = plan = (names, values)
    return plan


def _utc_first(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """UTCDateTime's check, skipped for the values already in UTC (nearly all of them)."""
    def utc(value: Any) -> Any:
        return value if value is None or value.tzinfo is UTC else process(value)
    return utc


def _jsonb(value: Any) -> Any:
    return None if value is None else Jsonb(value, dumps=_dumps)


def _dumps(value: Any) -> bytes:
    # orjson: several times faster than json.dumps, which is most of a timeline row's cost.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


# While the server works through sent COPY data, at most this much waits unsent in libpq.
COPY_FLUSH_BYTES = 64 * 1024


def _copy(conn: Connection, table_name: str, names: list[str],
          values: Callable[[dict[str, Any]], list[Any]], rows: Sequence[dict[str, Any]],
          while_server_works: Callable[[], None] | None = None) -> None:
    # Identifiers come from the table definitions, never from input.
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table_name}" ({columns}) FROM STDIN'
    raw = conn.connection.driver_connection
    try:
        with raw.cursor() as cursor:
            writer = LibpqWriter(cursor, flush_threshold=COPY_FLUSH_BYTES)
            with cursor.copy(statement, writer=writer) as copy:
                write = copy.write_row
                for row in rows:
                    write(values(row))
                if while_server_works is not None:
                    # The rows are sent; PostgreSQL is still inserting them. Do other work
                    # now rather than wait for the end of the COPY with nothing to do.
                    while_server_works()
    except psycopg.Error as exc:
        # The driver's error, raised as SQLAlchemy would have (IntegrityError, OperationalError
        # ...), so callers handle a COPY like any other statement (e.g. retry a deadlock).
        raise DBAPIError.instance(statement, None, exc, psycopg.Error,
                                  dialect=conn.dialect) from exc


def execute_while(conn: Connection, statement: str, params: dict[str, Any],
                  while_server_works: Callable[[], None] | None) -> None:
    """Run one PostgreSQL statement (psycopg `%(name)s` parameters) and, while the server
    executes it, `while_server_works()` in this thread.

    The statement goes out in pipeline mode, which sends it without waiting for its result;
    leaving the pipeline waits for it. Errors are raised as SQLAlchemy's, as by `execute`.
    """
    raw = conn.connection.driver_connection
    try:
        with raw.pipeline(), raw.cursor() as cursor:
            cursor.execute(statement, params)
            if while_server_works is not None:
                while_server_works()
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, params, exc, psycopg.Error,
                                  dialect=conn.dialect) from exc


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
                while_server_works: Callable[[], None] | None = None) -> None:
    """Insert rows that all have the same keys.

    `while_server_works`, if given, is called once, after the rows are sent and while the
    server may still be inserting them (with COPY), or after the insert otherwise.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        conn.execute(insert(table), list(rows))
        if while_server_works is not None:
            while_server_works()
        return
    names, values = _plan(table, frozenset(rows[0]), conn)
    _copy(conn, table.name, names, values, rows, while_server_works)


def bulk_insert_new(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
                    unique: Sequence[str], returning: Sequence[str],
                    small_insert) -> list[tuple]:
    """Insert rows, skipping any that collide on `unique`; return `returning` of those added.

    `small_insert` is the dialect's INSERT ... ON CONFLICT DO NOTHING RETURNING statement, used
    for small batches. Big ones on PostgreSQL are copied into a temporary staging table, then
    moved with one INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING.
    """
    if not rows:
        return []
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        return list(conn.execute(small_insert, list(rows)).all())
    names, values = _plan(table, frozenset(rows[0]), conn)
    stage = f"_stage_{table.name}"
    columns = ", ".join(f'"{name}"' for name in names)
    # Identifiers come from the table definitions, never from input.
    conn.execute(text(
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DROP AS '  # noqa: S608
        f'SELECT {columns} FROM "{table.name}" WITH NO DATA'
    ))
    _copy(conn, stage, names, values, rows)
    inserted = conn.execute(text(
        f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{stage}" '  # noqa: S608
        f'ON CONFLICT ({", ".join(unique)}) DO NOTHING '
        f'RETURNING {", ".join(returning)}'
    )).all()
    conn.execute(text(f'TRUNCATE "{stage}"'))
    return [tuple(row) for row in inserted]
