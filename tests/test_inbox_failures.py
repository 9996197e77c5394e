"""Telling a bad delivery from an unavailable database, and wording the reason."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from app.db import make_engine
from app.inbox import failures
from connectors.records import PayloadError


def test_a_refused_connection_is_transient():
    engine = make_engine("postgresql://postgres@127.0.0.1:1/nothing", connect_args={
        "connect_timeout": 2})
    with pytest.raises(OperationalError) as refused:
        engine.connect()
    assert failures.is_transient(refused.value)


def test_a_statement_the_database_refuses_is_the_deliverys_fault(session):
    with pytest.raises(IntegrityError) as refused:
        session.execute(text("INSERT INTO shops (platform) VALUES (NULL)"))
    session.rollback()
    assert not failures.is_transient(refused.value)
    assert failures.explain(refused.value).startswith("the database refused it: ")
    assert "INSERT" not in failures.explain(refused.value)  # no SQL, so no values either


@pytest.mark.parametrize(("driver_error", "transient"), [
    (psycopg.errors.DeadlockDetected("deadlock detected"), True),
    (psycopg.errors.AdminShutdown("terminating connection"), True),
    (psycopg.errors.DiskFull("could not extend file"), True),
    (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),
    (psycopg.errors.StatementTooComplex("stack depth limit exceeded"), False),
    (psycopg.errors.NumericValueOutOfRange("numeric field overflow"), False),
    (psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"), False),
])
def test_postgresql_errors_are_told_apart_by_their_sqlstate(driver_error, transient):
    wrapped = DBAPIError.instance("UPDATE ...", {}, driver_error, psycopg.Error)
    assert failures.is_transient(wrapped) is transient


@pytest.mark.parametrize(("name", "transient"), [
    ("SQLITE_BUSY", True), ("SQLITE_IOERR_SHORT_READ", True), ("SQLITE_FULL", True),
    ("SQLITE_TOOBIG", False), ("SQLITE_ERROR", False), ("SQLITE_CONSTRAINT_NOTNULL", False),
])
def test_sqlite_errors_are_told_apart_by_their_result_code(name, transient):
    driver_error = sqlite3.OperationalError("database error")
    driver_error.sqlite_errorname = name
    wrapped = DBAPIError.instance("UPDATE ...", {}, driver_error, sqlite3.Error)
    assert failures.is_transient(wrapped) is transient


def test_a_bug_or_a_payload_error_is_not_transient():
    assert not failures.is_transient(ValueError("simulated bug"))
    assert not failures.is_transient(PayloadError("email must be a string"))


def test_reasons_are_one_printable_line_of_bounded_length():
    reason = failures.unappliable("orders/create", ValueError("line one\nline\x00two " + "x" * 900))
    assert reason.startswith("cannot apply orders/create delivery: unexpected ValueError: ")
    assert reason.isprintable() and len(reason) == failures.MAX_REASON
    assert failures.unreadable("orders/create", RecursionError("maximum recursion depth")) == (
        "cannot read orders/create payload: it is nested too deeply to read")

