"""`/api/compliance/exports`: the merchant's copies of customer data requests (shop-scoped)."""

from __future__ import annotations

from flask import abort, g, jsonify
from sqlalchemy import select

from app.api import bp
from app.compliance.models import ComplianceExport
from app.db import db


def _summary(export: ComplianceExport) -> dict:
    requested = (export.content or {}).get("requested_customer") or {}
    return {
        "id": export.id,
        "data_request_id": export.data_request_id,
        "customer": {"id": requested.get("id"), "email": requested.get("email")},
        "counts": export.counts or {},
        "requested_at": export.requested_at.isoformat(),
        "created_at": export.created_at.isoformat(),
        "download": f"/api/compliance/exports/{export.id}",
    }


@bp.get("/compliance/exports")
def list_exports():
    exports = db.session.execute(
        select(ComplianceExport).where(ComplianceExport.shop_id == g.shop.id)
        .order_by(ComplianceExport.created_at.desc(), ComplianceExport.id.desc())
    ).scalars().all()
    return jsonify({"exports": [_summary(e) for e in exports]})


@bp.get("/compliance/exports/<int:export_id>")
def download_export(export_id: int):
    export = db.session.execute(
        select(ComplianceExport).where(ComplianceExport.id == export_id,
                                       ComplianceExport.shop_id == g.shop.id)
    ).scalar_one_or_none()
    if export is None:
        abort(404, description=f"this store has no data export with id {export_id}")
    response = jsonify(export.content)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="customer-data-request-{export.id}.json"')
    return response
