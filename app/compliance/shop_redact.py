"""`shop/redact`: erase everything Sticky holds for a store, 48 hours after it uninstalled."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.compliance.models import ComplianceAudit
from app.db import Base
from app.shops.models import Shop


def redact_shop(session: Session, shop: Shop) -> dict[str, int]:
    """Delete every row the shop owns (any table with a shop_id, children first), then the shop.

    Works table by table instead of relying on ON DELETE CASCADE alone, so a table added later
    without a cascade is still emptied. The audit trail is kept: it holds no personal data.
    """
    counts: dict[str, int] = {}
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in ("shops", ComplianceAudit.__tablename__) or "shop_id" not in table.c:
            continue
        deleted = session.execute(delete(table).where(table.c.shop_id == shop.id)).rowcount
        if deleted:
            counts[table.name] = deleted
    session.delete(shop)
    session.flush()
    counts["shops"] = 1
    return counts
