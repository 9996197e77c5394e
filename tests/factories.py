"""Shopify payloads for the tests: the builders live in `benchmarks/payloads/shopify.py`, which
the benchmarks share (they must run without pytest)."""

from benchmarks.payloads.shopify import (  # noqa: F401 - re-exported for the tests
    BASE_TIME,
    checkout_payload,
    customer_payload,
    next_id,
    order_payload,
    refund_payload,
    ts,
)
