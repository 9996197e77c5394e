"""Inserting many rows at once: PostgreSQL `COPY` for big batches, executemany otherwise.

`COPY ... FROM STDIN` (psycopg's `Cursor.copy`) runs inside the current transaction and moves
rows several times faster than multi-row INSERTs, which psycopg must also re-parse per batch.
Values go through the same bind processing as an INSERT (so `UTCDateTime` still refuses naive
datetimes and JSON is serialized the same way), and Python-side column defaults are filled in,
because `COPY` only knows server defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table, insert, text
from sqlalchemy.engine import Connection

# Below this many rows an executemany INSERT costs about the same and needs no staging.
COPY_MIN_ROWS = 64

_Fill = Callable[[dict[str, Any]], Any]
_plans: dict[tuple[str, frozenset[str], str], tuple[list[str], list[_Fill]]] = {}


def _plan(table: Table, keys: frozenset[str], conn: Connection) -> tuple[list[str], list[_Fill]]:
    cache_key = (table.name, keys, conn.dialect.name)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    names: list[str] = []
    fills: list[_Fill] = []
    for column in table.columns:
        default = column.default
        if column.name not in keys and (default is None or default.is_sequence):
            continue  # NULL, or the server fills it (a serial id)
        names.append(column.name)
        if isinstance(column.type.dialect_impl(conn.dialect), JSON):
            process = _jsonb  # psycopg adapts JSON itself; COPY needs the wrapper
        else:
            process = column.type.bind_processor(conn.dialect)
        fills.append(_filler(column.name, default if column.name not in keys else None, process))
    _plans[cache_key] = plan = (names, fills)
    return plan


def _jsonb(value: Any) -> Any:
    return None if value is None else Jsonb(value)


def _filler(name: str, default, process) -> _Fill:
    if default is not None and default.is_callable:
        produce = default.arg

        def value(row: dict[str, Any]) -> Any:
            return produce(None)
    elif default is not None:
        constant = default.arg

        def value(row: dict[str, Any]) -> Any:
            return constant
    else:
        def value(row: dict[str, Any]) -> Any:
            return row[name]
    if process is None:
        return value
    return lambda row: process(value(row))


def _copy(conn: Connection, table_name: str, names: list[str], fills: list[_Fill],
          rows: Sequence[dict[str, Any]]) -> None:
    # Identifiers come from the table definitions, never from input.
    columns = ", ".join(f'"{name}"' for name in names)
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(
        f'COPY "{table_name}" ({columns}) FROM STDIN'
    ) as copy:
        for row in rows:
            copy.write_row([fill(row) for fill in fills])


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that all have the same keys."""
    if not rows:
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_MIN_ROWS:
        conn.execute(insert(table), list(rows))
        return
    names, fills = _plan(table, frozenset(rows[0]), conn)
    _copy(conn, table.name, names, fills, rows)


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
    names, fills = _plan(table, frozenset(rows[0]), conn)
    stage = f"_stage_{table.name}"
    columns = ", ".join(f'"{name}"' for name in names)
    # Identifiers come from the table definitions, never from input.
    conn.execute(text(
        f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DROP AS '  # noqa: S608
        f'SELECT {columns} FROM "{table.name}" WITH NO DATA'
    ))
    _copy(conn, stage, names, fills, rows)
    inserted = conn.execute(text(
        f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{stage}" '  # noqa: S608
        f'ON CONFLICT ({", ".join(unique)}) DO NOTHING '
        f'RETURNING {", ".join(returning)}'
    )).all()
    conn.execute(text(f'TRUNCATE "{stage}"'))
    return [tuple(row) for row in inserted]
