"""Fixtures shared by the flow and email tests."""

import pytest

from tests.smtp_server import smtp_server  # noqa: F401 - a fixture


@pytest.fixture(autouse=True)
def _end_the_tests_transaction_before_delivery(app, monkeypatch):
    """On SQLite every transaction takes the database's one write lock (BEGIN IMMEDIATE, see
    app/db.py), so a test's open read would block delivery's own connection, a situation no
    production caller is in (a worker has no other transaction open). Delivery called from a
    test therefore ends the test's transaction first."""
    from app.db import db
    from app.flows import delivery

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
    for name in ("deliver", "deliver_many"):
        original = getattr(delivery, name)

        def ending_first(*args, _original=original, **kwargs):
            db.session.commit()
            return _original(*args, **kwargs)

        monkeypatch.setattr(delivery, name, ending_first)
