"""Connector tests: plain values in, neutral records out; the store platform is stubbed at
the HTTP edge (`responses`). They need no app, database or Redis, and
tests/test_architecture.py runs them with those unimportable to keep it so."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _clean_state():
    """Overrides the suite's per-test database and Redis reset: nothing here uses either."""
    yield
