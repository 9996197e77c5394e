"""`/api/compliance/exports`: the merchant's copies of customer data requests (shop-scoped)."""

from __future__ import annotations

from flask import abort, g, jsonify

from app.api import bp
from app.compliance.listing import (
    download_name,
    requested_customer,
    shop_export,
    shop_exports,
)
from app.compliance.models import ComplianceExport
from app.db import db


def _summary(export: ComplianceExport) -> dict:
    return {
        "id": export.id,
        "data_request_id": export.data_request_id,
        "customer": requested_customer(export),
        "counts": export.counts or {},
        "requested_at": export.requested_at.isoformat(),
        "created_at": export.created_at.isoformat(),
        "download": f"/api/compliance/exports/{export.id}",
    }


@bp.get("/compliance/exports")
def list_exports():
    exports = shop_exports(db.session, g.shop.id)
    return jsonify({"exports": [_summary(e) for e in exports]})


@bp.get("/compliance/exports/<int:export_id>")
def download_export(export_id: int):
    export = shop_export(db.session, g.shop.id, export_id)
    if export is None:
        abort(404, description=f"this store has no data export with id {export_id}")
    response = jsonify(export.content)
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(export)}"'
    return response
