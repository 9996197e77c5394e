"""WooCommerce's times: the `*_gmt` fields of its REST resources and webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.records import PayloadError


def parse_gmt(value: Any, name: str = "date") -> datetime | None:
    """A WooCommerce `*_gmt` time (naive, UTC) → aware UTC datetime."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be an ISO 8601 string, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError(f"{name} is not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
