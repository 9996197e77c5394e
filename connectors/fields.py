"""Reading a platform payload's fields with their types checked.

A webhook body is JSON whose shape only the platform's documentation promises; a correctly
signed body can still hold a number where an object belongs, or a list nested a thousand
levels deep. Normalizers read the fields they use through these helpers, which return the
value when it has the documented type and otherwise raise `PayloadError` naming the field
and what it held ("line_items must be a list of objects, got a string"). The inbox records
that sentence as the delivery's failure reason, so an operator can see which field was wrong.

The messages name types, never values: a value may be personal data, or megabytes long.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

from connectors.records import PayloadError

# Quantities and other counts: anything larger is no real count, and would overflow a
# 32-bit column.
MAX_COUNT = 2**31 - 1


def describe(value: Any) -> str:
    """What a JSON value is, in words: "a string", "an object", "null", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "an empty string" if not value else "a string"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def wrong(path: str, expected: str, value: Any) -> PayloadError:
    return PayloadError(f"{path} must be {expected}, got {describe(value)}")


# Each reader takes the field's `name` and, for a field inside a list or a nested object,
# the path `at` of its parent ("line_items[2]."); the two are joined only for an error, so
# reading a valid payload formats no strings.


def obj(value: Any, name: str, at: str = "") -> dict[str, Any]:
    """An object; a missing or null one reads as empty."""
    if value.__class__ is dict:
        return value
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise wrong(at + name, "an object", value)
    return value


def objects(value: Any, name: str, at: str = "") -> list[dict[str, Any]]:
    """A list of objects; a missing or null one reads as empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise wrong(at + name, "a list of objects", value)
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise wrong(f"{at}{name}[{index}]", "an object", item)
    return value


def text(value: Any, name: str, at: str = "") -> str | None:
    """A string; missing, null and "" read as None."""
    if value.__class__ is str:
        return value or None
    if value is None:
        return None
    if not isinstance(value, str):
        raise wrong(at + name, "a string", value)
    return value or None


def ident(value: Any, name: str, at: str = "") -> str | None:
    """A platform id (a JSON number or string) as a string; missing, null, 0 and "" are none."""
    kind = value.__class__
    if kind is int:
        return str(value) if value else None
    if kind is str:
        return value or None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise wrong(at + name, "a whole number or a string", value)
    return str(value) if value else None


def count(value: Any, name: str, at: str = "") -> int:
    """A whole number from 0 to MAX_COUNT (a JSON number or digit string); missing is 0."""
    if value.__class__ is int and 0 <= value <= MAX_COUNT:
        return value
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise wrong(at + name, "a whole number", value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise wrong(at + name, "a whole number", value)
    if not 0 <= value <= MAX_COUNT:
        raise PayloadError(f"{at}{name} must be a whole number from 0 to {MAX_COUNT}")
    return value


def iso_time(value: Any, name: str, at: str = "") -> datetime | None:
    """An ISO 8601 string → aware UTC datetime (a time without offset is UTC, as both
    platforms' `*_gmt` / `*_at` fields mean it); None and "" are None."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{at}{name} must be an ISO 8601 string, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: year 1 or 9999 moved past UTC
        raise PayloadError(f"{at}{name} is not an ISO 8601 time: {value[:40]!r}") from exc


def without_nul(data: Any) -> Any:
    """`data` (parsed JSON, changed in place) with every NUL character removed from its
    strings, keys included.

    PostgreSQL cannot store NUL in text or JSON at all, and in a name, an email or a title it
    means nothing: dropping it keeps the rest of a real order or profile, where refusing the
    delivery would lose it (and reconciliation would meet the same value again). It also makes
    both databases store the same thing (SQLite would keep the NUL). Iterative: a body nested
    as deep as the JSON parser allows needs no recursion.
    """
    if isinstance(data, str):
        return data.replace("\x00", "")
    stack = [data] if isinstance(data, list | dict) else []
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any("\x00" in key for key in node):
                cleaned = {key.replace("\x00", ""): value for key, value in node.items()}
                node.clear()
                node.update(cleaned)
            slots: Any = list(node.items())
        else:
            slots = list(enumerate(node))
        for key, value in slots:
            if isinstance(value, str):
                node[key] = value.replace("\x00", "")
            elif isinstance(value, list | dict):
                stack.append(value)
    return data


def address_fingerprint(address: Any, *, street: tuple[str, str], postcode: str,
                        country: str) -> str | None:
    """A postal address as a SHA-256 of its normalized street lines, city,
    postcode and country (the platform's own field names are passed in), or None when the
    address has no street line. Two spellings of one address ("12 Main St." and "12 main
    st") give one fingerprint, so the loyalty program can see that two shoppers share an
    address without Sticky keeping the address itself. Values of the wrong type count as
    absent: an address is never worth refusing an order for."""
    if not isinstance(address, dict):
        return None
    parts = [address.get(street[0]), address.get(street[1]), address.get("city"),
             address.get(postcode), address.get(country)]
    words = []
    for part in parts:
        if isinstance(part, str | int) and not isinstance(part, bool):
            folded = unicodedata.normalize("NFKD", str(part)).casefold()
            folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
            words.append(" ".join(re.findall(r"[^\W_]+", folded)))
        else:
            words.append("")
    if not words[0] and not words[1]:
        return None
    return hashlib.sha256("|".join(words).encode()).hexdigest()
