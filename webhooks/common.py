"""What both receivers share: reading the headers they store, and their JSON replies.

A platform's signature covers the body only, so whoever replays a signed body chooses its
headers. Every value that reaches a column is therefore checked against that column before
any query: too long for it, or holding anything but printable ASCII (PostgreSQL refuses NUL
in text; every value a platform really sends is a short ASCII token), is a 400 that names the
header, never a database error.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from flask import Response, current_app, request

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


@lru_cache(maxsize=64)
def _reply_body(status: int, message: str) -> bytes:
    return json.dumps({"status": status, "message": message}).encode()


def reply(status: int, message: str) -> Response:
    """`{"status", "message"}` as JSON with that status. The few fixed replies are encoded
    once: this is on the path of every delivery."""
    return current_app.response_class(_reply_body(status, message), status=status,
                                      mimetype="application/json")
