"""Writing members' points and tier to their WooCommerce customers (customer meta), so
themes and the companion plugin can show them.

`PUT customers/batch` with `{"update": [{"id", "meta_data": [...]}]}`, up to 100 customers
per call (WooCommerce's batch limit). Meta keys `sticky_points_balance` and `sticky_tier`
(empty when the member has no tier); WooCommerce updates a meta entry sent without an `id`
by its key, so a repeated write replaces rather than adds. A batch answers 200 even when
some items failed: each failed item carries an `error`, in the order they were sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from connectors.http import HttpError
from connectors.woocommerce.client import WooClient

BALANCE_KEY, TIER_KEY = "sticky_points_balance", "sticky_tier"
BATCH_LIMIT = 100


@dataclass(frozen=True, slots=True)
class MemberMeta:
    platform_customer_id: str
    points_balance: int
    tier: str | None


def batch_body(members: list[MemberMeta]) -> dict[str, Any]:
    return {"update": [
        {"id": int(m.platform_customer_id),
         "meta_data": [{"key": BALANCE_KEY, "value": str(m.points_balance)},
                       {"key": TIER_KEY, "value": m.tier or ""}]}
        for m in members]}


def _item_errors(members: list[MemberMeta], answer: Any) -> dict[str, str | None]:
    items = answer.get("update") if isinstance(answer, dict) else None
    if not isinstance(items, list) or len(items) != len(members):
        return {m.platform_customer_id: "WooCommerce answered the batch without its items"
                for m in members}
    outcome: dict[str, str | None] = {}
    for member, item in zip(members, items, strict=True):
        error = item.get("error") if isinstance(item, dict) else None
        outcome[member.platform_customer_id] = (
            str(error.get("message") or error.get("code") or "refused")
            if isinstance(error, dict) else None)
    return outcome


def write_members(client: WooClient, members: Iterable[MemberMeta]) -> dict[str, str | None]:
    """Write each member's meta; returns platform id → None (written) or why not. A failed
    call is the reason for each member of it; nothing is raised."""
    members = list(members)
    outcome: dict[str, str | None] = {}
    for start in range(0, len(members), BATCH_LIMIT):
        chunk = members[start:start + BATCH_LIMIT]
        try:
            # PUT: the HTTP client may resend it on a lost answer; writing the same values
            # twice changes nothing.
            answer = client.request("PUT", "customers/batch", json=batch_body(chunk)).json()
        except (HttpError, ValueError) as exc:
            outcome.update({m.platform_customer_id: str(exc) or exc.__class__.__name__
                            for m in chunk})
            continue
        outcome.update(_item_errors(chunk, answer))
    return outcome
