"""Writing members' points and tier to their Shopify customers, so themes can show them.

One request per `CHUNK` customers: a `metafieldsSet` of `sticky.points_balance`
(number_integer) and `sticky.tier` (single_line_text_field) for all of them (at most 25
metafields per call, Shopify's limit; a member without a tier has that metafield deleted,
as Shopify refuses a blank one), plus `tagsAdd` / `tagsRemove` for each customer's tier tag
(`Sticky tier: Gold`; the tags of former tiers removed), as aliased fields of the same
mutation document. Needs `write_customers`.

`metafieldsSet` is all-or-nothing: when Shopify refuses one customer's metafield, nothing of
that call is written. The refused customers are reported and the others sent again at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.shopify.admin import AdminApiError, AdminClient
from connectors.shopify.discounts import customer_gid

NAMESPACE = "sticky"
BALANCE_KEY, TIER_KEY = "points_balance", "tier"
TIER_TAG_PREFIX = "Sticky tier: "
METAFIELDS_PER_CALL = 25
CHUNK = METAFIELDS_PER_CALL // 2  # two metafields per customer


def tier_tag(tier: str) -> str:
    return f"{TIER_TAG_PREFIX}{tier}"


@dataclass(frozen=True, slots=True)
class MemberFigures:
    platform_customer_id: str
    points_balance: int
    tier: str | None
    # Tier names whose tags the customer may still carry (former tiers): removed.
    stale_tiers: tuple[str, ...] = field(default=())
    # False when the platform already has this tier's tag (only the balance changed).
    update_tags: bool = True


def _metafields(member: MemberFigures) -> list[dict[str, Any]]:
    owner = customer_gid(member.platform_customer_id)
    fields = [{"ownerId": owner, "namespace": NAMESPACE, "key": BALANCE_KEY,
               "type": "number_integer", "value": str(member.points_balance)}]
    if member.tier:  # Shopify refuses a blank value: a member without a tier loses it
        fields.append({"ownerId": owner, "namespace": NAMESPACE, "key": TIER_KEY,
                       "type": "single_line_text_field", "value": member.tier})
    return fields


def build_mutation(members: Sequence[MemberFigures]) -> tuple[str, dict[str, Any]]:
    """The mutation document and its variables for up to CHUNK members."""
    if len(members) > CHUNK:
        raise ValueError(f"at most {CHUNK} customers per call")
    declarations = ["$metafields: [MetafieldsSetInput!]!"]
    fields = ["metafieldsSet(metafields: $metafields) { metafields { key } "
              "userErrors { field message code } }"]
    metafields = [m for member in members for m in _metafields(member)]
    variables: dict[str, Any] = {"metafields": metafields}
    without_tier = [{"ownerId": customer_gid(m.platform_customer_id), "namespace": NAMESPACE,
                     "key": TIER_KEY} for m in members if not m.tier]
    if without_tier:
        variables["tierless"] = without_tier
        declarations.append("$tierless: [MetafieldIdentifierInput!]!")
        fields.append("metafieldsDelete(metafields: $tierless) { deletedMetafields { key } "
                      "userErrors { field message } }")
    for i, member in enumerate(members):
        if not member.update_tags:
            continue
        remove = sorted({tier_tag(t) for t in member.stale_tiers if t and t != member.tier})
        if member.tier or remove:
            variables[f"c{i}"] = customer_gid(member.platform_customer_id)
            declarations.append(f"$c{i}: ID!")
        if member.tier:
            variables[f"add{i}"] = [tier_tag(member.tier)]
            declarations.append(f"$add{i}: [String!]!")
            fields.append(f"add{i}: tagsAdd(id: $c{i}, tags: $add{i}) "
                          "{ userErrors { field message } }")
        if remove:
            variables[f"rm{i}"] = remove
            declarations.append(f"$rm{i}: [String!]!")
            fields.append(f"rm{i}: tagsRemove(id: $c{i}, tags: $rm{i}) "
                          "{ userErrors { field message } }")
    document = (f"mutation StickyWriteBack({', '.join(declarations)}) {{\n  "
                + "\n  ".join(fields) + "\n}")
    return document, variables


def _refused_members(members: Sequence[MemberFigures], variables: dict[str, Any],
                     data: dict[str, Any]) -> dict[str, str]:
    """platform id → Shopify's message, for each customer something was refused for."""
    by_gid = {customer_gid(m.platform_customer_id): m.platform_customer_id for m in members}
    metafields = variables["metafields"]
    refused: dict[str, str] = {}
    for error in (data.get("metafieldsSet") or {}).get("userErrors") or []:
        path = [str(p) for p in error.get("field") or []]
        index = next((int(p) for p in path if p.isdigit()), None)
        message = str(error.get("message") or "refused")
        if index is None or index >= len(metafields):
            # Not attributable to one customer: all of them were refused.
            return {m.platform_customer_id: message for m in members}
        refused.setdefault(by_gid[metafields[index]["ownerId"]], message)
    for alias, payload in data.items():
        match = re.fullmatch(r"(?:add|rm)(\d+)", alias)
        if match and (payload or {}).get("userErrors"):
            member = members[int(match.group(1))]
            message = str(payload["userErrors"][0].get("message") or "tag refused")
            refused.setdefault(member.platform_customer_id, f"tier tag: {message}")
    return refused


def _write_chunk(client: AdminClient,
                 chunk: Sequence[MemberFigures]) -> dict[str, str | None]:
    outcome: dict[str, str | None] = {}
    pending = list(chunk)
    for _attempt in range(2):
        if not pending:
            return outcome
        try:
            document, variables = build_mutation(pending)
            data = client.execute(document, variables)
        except AdminApiError as exc:
            outcome.update({m.platform_customer_id: str(exc) or exc.__class__.__name__
                            for m in pending})
            return outcome
        refused = _refused_members(pending, variables, data)
        outcome.update(refused)
        pending = [m for m in pending if m.platform_customer_id not in refused]
        if not (data.get("metafieldsSet") or {}).get("userErrors"):
            outcome.update({m.platform_customer_id: None for m in pending})
            return outcome
        # metafieldsSet wrote nothing of this call: send the others again.
    outcome.update({m.platform_customer_id: "not written: Shopify refused another customer "
                    "of the same call" for m in pending})
    return outcome


def write_members(client: AdminClient,
                  members: Iterable[MemberFigures]) -> dict[str, str | None]:
    """Write each member's figures; returns platform id → None (written) or why not.
    A failure of a call itself (network, 5xx, throttled, token) is the reason given for
    every member of that call; nothing is raised."""
    members = list(members)
    outcome: dict[str, str | None] = {}
    for start in range(0, len(members), CHUNK):
        outcome.update(_write_chunk(client, members[start:start + CHUNK]))
    return outcome
