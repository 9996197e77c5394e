"""The loyalty program's daily run (app/loyalty/daily.py), for every store whose program is
enabled: periodic (jobs/worker.py), and cheap when no store is due. Each store runs once per
local day, at the first call after its midnight."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from app.db import db, utcnow
from app.loyalty.daily import run_shop, shops_with_enabled_programs
from jobs.context import app_context

log = logging.getLogger(__name__)


class DailyRunFailed(RuntimeError):
    """Some stores' runs failed (each is logged); the others ran. The next call retries them."""


def run_daily(now: str | None = None) -> dict:
    """Run every due store's day; returns what the runs did, in total. `now` (ISO 8601, for
    tests and replays) defaults to the clock. Raises DailyRunFailed after the others if a
    store's run failed."""
    at = datetime.fromisoformat(now) if now else utcnow()
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    ran: list[dict] = []
    failed: list[int] = []
    with app_context():
        with db.new_session() as session:
            shop_ids = shops_with_enabled_programs(session)
        for shop_id in shop_ids:
            with db.new_session() as session:
                try:
                    run = run_shop(session, shop_id, at)
                except Exception:  # noqa: BLE001 - one store's failure stops no other
                    log.exception("loyalty.daily_run_failed", extra={"shop_id": shop_id})
                    failed.append(shop_id)
                    continue
            if run is not None:
                ran.append(run.as_dict())
    if failed:
        raise DailyRunFailed(f"the loyalty daily run failed for stores {failed}; ran "
                             f"{[r['shop_id'] for r in ran]}")
    return {
        "stores_run": [r["shop_id"] for r in ran],
        "birthday_bonuses": sum(r["birthdays"].get("awarded", 0) for r in ran),
        "expiry_warnings": sum(r["expiry"].get("warned", 0) for r in ran),
        "points_expired": sum(r["expiry"].get("points", 0) for r in ran),
        "tiers_up": sum(r["tiers"].get("up", 0) for r in ran),
        "tiers_down": sum(r["tiers"].get("down", 0) for r in ran),
        "stores_checked": len(shop_ids),
    }
