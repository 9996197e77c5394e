"""WooCommerce's times: the `*_gmt` fields of its REST resources and webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.fields import iso_time


def parse_gmt(value: Any, name: str = "date") -> datetime | None:
    """A WooCommerce `*_gmt` time (naive, UTC) → aware UTC datetime."""
    return iso_time(value, name)
