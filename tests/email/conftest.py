"""Fixtures shared by the email tests."""

from tests.smtp_server import smtp_server  # noqa: F401 - a fixture
