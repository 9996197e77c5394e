"""Reading the few request headers a receiver stores or looks up by.

A platform's signature covers the body only, so whoever replays a signed body chooses its
headers. Every value that reaches a column is therefore checked against that column before
any query: too long for it, or holding anything but printable ASCII (PostgreSQL refuses NUL
in text; every value a platform really sends is a short ASCII token), is a 400 that names the
header, never a database error.
"""

from __future__ import annotations

import re

from flask import request

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")


class BadHeader(ValueError):
    """A header value that cannot be stored; its message is the 400's reason."""


def header(name: str, *, max_length: int, required: bool = False) -> str:
    """The stripped value of `name` ("" when absent and not required), or BadHeader."""
    value = (request.headers.get(name) or "").strip()
    if not value:
        if required:
            raise BadHeader(f"the {name} header is required")
        return ""
    if len(value) > max_length:
        raise BadHeader(f"{name} is longer than {max_length} characters")
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise BadHeader(f"{name} must be printable ASCII")
    return value
