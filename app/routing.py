"""Bounds on what a URL or form may carry, shared by every blueprint.

Every id Sticky issues is a 64-bit signed integer (`app.db.BigId`), so an id in a URL beyond
2^63 - 1 names nothing; handed to the database it would not even bind (PostgreSQL and SQLite
both refuse it, which used to surface as a 500). `create_app` installs `IdConverter` as the
app's `int` converter, so every `<int:...>` route, present or future, answers such a URL with
a 404 that says why, before any view or query runs.
"""

from __future__ import annotations

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1  # BIGINT's largest value: the largest id any table can hold


class IdConverter(IntegerConverter):
    """`<int:...>` bounded to the ids a table can hold (0 .. 2^63 - 1)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            # Raised (not ValidationError) so the caller learns why, rather than a bare 404.
            raise NotFound(description=f"no such id: {value} is larger than any id Sticky "
                                       f"issues (the largest is {MAX_ID})")
        return number


def parse_id(value: str) -> int | None:
    """`value` as an id (ASCII digits, at most MAX_ID), else None: for ids typed on the CLI."""
    value = value.strip()
    if not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number <= MAX_ID else None


def field_with_nul(*sources: MultiDict[str, str]) -> str | None:
    """The name of the first field (of `request.args`, `request.form`, ...) whose name or value
    holds a NUL character, else None. PostgreSQL text cannot hold NUL, so such a value must be
    refused before it reaches a query, where it would be a 500."""
    for source in sources:
        for name, value in source.items(multi=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "\\x00")
    return None
