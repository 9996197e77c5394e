"""What a store's merchant may see of its privacy requests: the data-request exports
(`/api/compliance/exports`, the Settings page) and the audit of requests handled."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from app.compliance.models import ComplianceAudit, ComplianceExport
from app.compliance.service import COMPLIANCE_TOPICS
from app.shops.models import Shop


def shop_exports(session: Session, shop_id: int, *, limit: int | None = None,
                 with_content: bool = True) -> list[ComplianceExport]:
    """The store's exports, newest first."""
    query = (select(ComplianceExport).where(ComplianceExport.shop_id == shop_id)
             .order_by(ComplianceExport.created_at.desc(), ComplianceExport.id.desc()))
    if not with_content:
        query = query.options(defer(ComplianceExport.content))
    if limit is not None:
        query = query.limit(limit)
    return list(session.execute(query).scalars())


def shop_export(session: Session, shop_id: int, export_id: int) -> ComplianceExport | None:
    """One export of the store, or None (another store's export is None too)."""
    return session.execute(
        select(ComplianceExport).where(ComplianceExport.id == export_id,
                                       ComplianceExport.shop_id == shop_id)
    ).scalar_one_or_none()


def requested_customer(export: ComplianceExport) -> dict:
    """Who the request was about, as Shopify named them (id and email)."""
    requested = (export.content or {}).get("requested_customer") or {}
    return {"id": requested.get("id"), "email": requested.get("email")}


def download_name(export: ComplianceExport) -> str:
    return f"customer-data-request-{export.id}.json"


def privacy_log(session: Session, shop: Shop, *, limit: int = 20) -> list[ComplianceAudit]:
    """The store's handled privacy requests (data requests and redactions), newest first.
    The audit is keyed by domain (it outlives the store row), so the store id is matched too:
    a later store with the same domain does not see an earlier one's requests."""
    return list(session.execute(
        select(ComplianceAudit).where(ComplianceAudit.shop_domain == shop.domain,
                                      ComplianceAudit.store_id == shop.id,
                                      ComplianceAudit.topic.in_(sorted(COMPLIANCE_TOPICS)))
        .order_by(ComplianceAudit.received_at.desc(), ComplianceAudit.id.desc()).limit(limit)
    ).scalars())
