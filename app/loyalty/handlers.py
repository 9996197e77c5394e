"""Every module of the program that handles domain events (their `@on` decorators register
them on import). The subscriber imports this module; add a line per module."""

from __future__ import annotations

HANDLER_MODULES: tuple[str, ...] = (
    "app.loyalty.earning",
    "app.loyalty.reversals",
    "app.loyalty.tier_entry",  # after earning: a tier is entered once the points count
    "app.loyalty.referral_orders",
)
