"""Platform connectors: the only code that knows a store platform's payloads and APIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.records import Record

Normalizer = Callable[[str, Any], list[Record]]


def normalizer_for(platform: str) -> Normalizer:
    """The function that turns this platform's webhook payloads into neutral records."""
    if platform == "shopify":
        from connectors.shopify.normalize import normalize

        return normalize
    if platform == "woocommerce":
        from connectors.woocommerce.normalize import normalize as normalize_woocommerce

        return normalize_woocommerce
    raise LookupError(f"no connector for platform {platform!r}")
