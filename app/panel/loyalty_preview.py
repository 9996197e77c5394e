"""`GET /admin/loyalty/preview`: the rewards widget as a sample member sees it.

The Loyalty settings page frames this and reloads it as the merchant edits. Without a query
it shows the program as saved; each query parameter named like a field of
`GET /api/loyalty/program` (`points_per_unit=2`, `signup_points=100`, tiers as
`tiers-0-name`, `tiers-0-threshold`, `tiers-0-multiplier`, `tiers-0-perks`; `tiers=none` for
no tiers) overrides it for this preview only. Each value goes through
`app.loyalty.program.validate_changes`; one that is not valid (a half-typed number) is
ignored, and the saved value shows, so the preview never breaks while the merchant types.
Nothing is saved.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from flask import g, make_response, request

from app.db import db
from app.loyalty.program import (
    FIELDS,
    MAX_TIERS,
    Program,
    ProgramInvalid,
    check_whole,
    read_program,
    validate_changes,
)
from app.loyalty.widget import active_rewards
from app.loyalty.widget_sample import sample_view
from app.panel import bp
from app.panel.door import panel_page
from app.storefront.page import Door, render_page

_TIER_PARAM = re.compile(r"^tiers-(\d{1,2})-(name|threshold|multiplier|perks)$")
_BOOLEAN_WORDS = {"true": True, "1": True, "on": True, "yes": True,
                  "false": False, "0": False, "off": False, "no": False, "": False}
_NULL_WORDS = ("", "null", "none", "never")
_NULLABLE = ("expiry_days", "referral_friend_minimum_order")


def _typed(name: str, raw: str, default: Any) -> Any:
    """A query value as the JSON API would carry it (the validator decides if it is good)."""
    text = raw.strip()
    if name in _NULLABLE and text.lower() in _NULL_WORDS:
        return None
    if isinstance(default, bool):
        return _BOOLEAN_WORDS.get(text.lower(), text)
    if isinstance(default, int) or name in _NULLABLE and name.endswith("_days"):
        return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text
    return text


def _tiers_from_query(args) -> list[dict[str, str]] | None:
    found: dict[int, dict[str, str]] = {}
    for key, value in args.items():
        match = _TIER_PARAM.match(key)
        if match and int(match.group(1)) < MAX_TIERS:
            found.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if not found:
        return [] if args.get("tiers", "x").strip().lower() in _NULL_WORDS else None
    return [found[i] for i in sorted(found)]


def program_from_query(saved: Program, args) -> Program:
    """`saved` with every valid override of the query applied."""
    clean: dict[str, Any] = {}
    for name in FIELDS:
        if name == "tiers" or name not in args:
            continue
        try:
            clean.update(validate_changes({name: _typed(name, args[name], getattr(saved, name))}))
        except ProgramInvalid:
            continue  # still being typed: the saved value shows
    tiers = _tiers_from_query(args)
    if tiers is not None:
        try:
            clean.update(validate_changes({"tiers": tiers}))
        except ProgramInvalid:
            pass
    program = replace(saved, **clean)
    try:
        check_whole(program)
    except ProgramInvalid as exc:
        program = replace(program, **{name: getattr(saved, name) for name in exc.errors
                                      if name in clean})
    return program


@bp.get("/admin/loyalty/preview")
@panel_page
def loyalty_preview():
    shop = g.shop
    session = db.session
    program = program_from_query(read_program(session, shop.id), request.args)
    view = sample_view(program, shop, active_rewards(session, shop.id))
    door = Door(mode="preview", redeem_url=None, birthday_url=None)
    html = render_page(view, door, title="Rewards preview")
    response = make_response(html)
    # Framed by Sticky's own Loyalty page, itself inside the Shopify admin when embedded.
    ancestors = "'self'"
    if shop.platform == "shopify":
        ancestors += f" https://{shop.domain} https://admin.shopify.com"
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
    response.headers["Cache-Control"] = "no-store"
    return response
