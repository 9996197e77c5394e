"""Fixtures shared by the flow and email tests."""

from tests.smtp_server import smtp_server  # noqa: F401 - a fixture
