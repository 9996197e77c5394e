"""A store's time zone: the one set in Sticky's settings, else the platform's, else UTC.

Days, weeks and months in the panel and the API are the store's own (a merchant in Sydney
means Sydney's Monday), so every date range goes through here.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.settings.models import ShopSettings
from app.shops.models import Shop

UTC_ZONE = ZoneInfo("UTC")


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """`name` as a time zone, or None when it is empty or not an IANA name."""
    if not name or not isinstance(name, str) or "\x00" in name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def shop_zone(session: Session, shop: Shop) -> ZoneInfo:
    chosen = session.execute(select(ShopSettings.timezone)
                             .where(ShopSettings.shop_id == shop.id)).scalar_one_or_none()
    return zone_or_none(chosen) or zone_or_none(shop.timezone) or UTC_ZONE
