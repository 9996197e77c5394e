"""The store's flows as the API and the panel list them: the built-ins installed on first
look (switched off), each flow with its figures and reports, and what a test send needs."""

from __future__ import annotations

import logging
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from app.flows.builtins import ensure_installed
from app.flows.models import Flow
from app.flows.service import list_flows, serialize
from app.flows.stats import flow_stats, recipients, step_stats

log = logging.getLogger(__name__)


def store_flows(session: Session, shop_id: int) -> list[Flow]:
    """The store's flows, the built-ins first (installed as drafts the first time)."""
    ensure_installed(session, shop_id)
    session.flush()
    return list_flows(session, shop_id)


def figures(session: Session, shop_id: int, flow_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per flow: entered, sent, opened, clicked, converted, revenue, unsubscribed."""
    return flow_stats(session, shop_id, flow_ids) if flow_ids else {}


def serialized(session: Session, shop_id: int, flows: list[Flow]) -> list[dict[str, Any]]:
    stats = figures(session, shop_id, [f.id for f in flows])
    return [serialize(f, stats.get(f.id)) for f in flows]


def step_figures(session: Session, shop_id: int, flow_id: int) -> dict[str, dict[str, Any]]:
    return step_stats(session, shop_id, flow_id)


def top_recipients(session: Session, shop_id: int, flow_id: int,
                   limit: int = 10) -> list[dict[str, Any]]:
    """The flow's recipients, most revenue first."""
    return recipients(session, shop_id, flow_id, limit)


def test_send_refusals() -> tuple[type[Exception], ...]:
    """What a test send raises when it refuses (a template that cannot render, a step or an
    address it cannot use): shown to the merchant, never a server error."""
    from app.email.render import TemplateRefused
    from app.flows.sending import TestSendRefused

    return (TemplateRefused, TestSendRefused)


def checked_address(value: Any) -> tuple[str | None, str | None]:
    """A test send's address, normalized, or why it cannot be used (syntax only)."""
    if not isinstance(value, str) or not value.strip():
        return None, "the address to send the test to, e.g. you@yourstore.com"
    try:
        return validate_email(value.strip(), check_deliverability=False,
                              allow_smtputf8=False).normalized, None
    except EmailNotValidError as exc:
        return None, f"not a valid email address: {str(exc).rstrip('.')}"
