"""WooCommerce's times: the `*_gmt` fields of its REST resources and webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.fields import describe
from connectors.records import PayloadError


def parse_gmt(value: Any, name: str = "date") -> datetime | None:
    """A WooCommerce `*_gmt` time (naive, UTC) → aware UTC datetime."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(f"{name} must be an ISO 8601 string, got {describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: year 1 or 9999 moved past UTC
        raise PayloadError(f"{name} is not an ISO 8601 time: {value[:40]!r}") from exc
