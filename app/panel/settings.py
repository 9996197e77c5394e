"""`/admin/settings`: the store's settings form, and how its connection is doing (credential,
history import, reconciliation, webhooks, privacy requests), with the few actions those need:
retry failed deliveries, start an import, download a data-request export.

The form and `PUT /api/settings` share app/settings/service.py; the other cards read the
same domain modules as `/api` and the CLI (`inbox status --failed`, `inbox retry`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, g, jsonify, redirect, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.compliance.listing import (
    download_name,
    privacy_log,
    requested_customer,
    shop_export,
    shop_exports,
)
from app.compliance.retry import requeue_failed
from app.db import db, utcnow
from app.inbox.models import FAILED, InboxEntry
from app.inbox.service import counts, failed_count, latest_failed
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.settings.forms import SettingsForm
from app.settings.service import (
    SettingsInvalid,
    StoreSettings,
    platform_name,
    read_settings,
    store_name,
    update_settings,
)
from app.settings.timezone import zone_or_none
from app.shopify.install import start_first_backfill
from app.shops.connection import describe_connection
from app.shops.models import Shop
from app.sync.backfill import latest_run, run_json, why_no_import
from app.sync.models import FAILED as RUN_FAILED
from app.sync.models import QUEUED
from app.sync.reconcile import RECONCILE_PERIOD_SECONDS, next_pass_due

log = logging.getLogger(__name__)

FAILURES_SHOWN = 10
HEALTH_WINDOW = timedelta(hours=24)


@bp.route("/admin/settings", methods=["GET", "POST"])
@panel_page
def settings():
    session: Session = db.session
    shop: Shop = g.shop
    current = read_settings(session, shop)
    form = SettingsForm()
    form.offer_time_zones(_follow_platform_label(shop, current))
    status = 200
    if request.method == "POST":
        try:
            update_settings(session, shop, form.changes())
        except SettingsInvalid as exc:
            session.rollback()
            form.show_errors(exc.errors)
            status = 400
        else:
            flash("Settings saved.", "success")
            return redirect(panel_url("panel.settings"))
    else:
        form.fill(current)
    return render_template("panel/settings.html", form=form, settings=current,
                           **_page_facts(session, shop, current)), status


def _follow_platform_label(shop: Shop, current: StoreSettings) -> str:
    if current.platform_timezone:
        return f"Same as {platform_name(shop)} ({current.platform_timezone})"
    return f"UTC ({platform_name(shop)} has not told Sticky its time zone)"


def _page_facts(session: Session, shop: Shop, current: StoreSettings) -> dict[str, Any]:
    now = utcnow()
    zone = zone_or_none(current.timezone) or ZoneInfo("UTC")
    run = latest_run(session, shop.id)
    recent = counts(session, shop.id, received_since=now - HEALTH_WINDOW)
    due = next_pass_due(shop)
    return {
        "default_sender_name": store_name(shop),
        "connection": describe_connection(shop, now),
        "backfill": run_json(run),
        "import_blocked": why_no_import(shop, run),
        "reconcile": {"last": shop.last_synced_at, "due": due,
                      "overdue": due is not None and due + timedelta(
                          seconds=RECONCILE_PERIOD_SECONDS) < now,
                      "period_minutes": RECONCILE_PERIOD_SECONDS // 60},
        "deliveries": {
            "received": sum(recent.values()),
            "processed": recent.get("processed", 0),
            "failed": recent.get(FAILED, 0),
            # Privacy and lifecycle requests wait as "dispatched" for their own job.
            "waiting": recent.get("pending", 0) + recent.get("dispatched", 0),
        },
        "failures": latest_failed(session, shop.id, limit=FAILURES_SHOWN),
        "failures_total": failed_count(session, shop.id),
        "exports": [(export, requested_customer(export))
                    for export in shop_exports(session, shop.id, limit=20)],
        "privacy_log": privacy_log(session, shop),
        "local": lambda value: _local_time(value, zone),
        "now": now,
    }


def _local_time(value: datetime | str | None, zone: ZoneInfo) -> str:
    """A time as the merchant reads it: in the store's zone, with the zone's abbreviation."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    local = value.astimezone(zone)
    return f"{local:%b} {local.day}, {local.year}, {local:%H:%M} {local:%Z}"


# --- actions ------------------------------------------------------------------------------

def _back_to(anchor: str):
    return redirect(panel_url("panel.settings", _anchor=anchor))


@bp.post("/admin/settings/inbox/<int:entry_id>/retry")
@panel_page
def settings_retry_delivery(entry_id: int):
    """Retry one failed delivery of this store, exactly as `inbox retry` would."""
    session: Session = db.session
    entry = session.execute(
        select(InboxEntry.topic, InboxEntry.status)
        .where(InboxEntry.id == entry_id, InboxEntry.shop_id == g.shop.id)).first()
    if entry is None:
        abort(404, description=f"this store has no webhook delivery with id {entry_id}")
    topic, status = entry.topic, entry.status
    session.commit()  # retry_failed runs its own transaction
    if status != FAILED or not requeue_failed(session, g.shop.id, entry_id=entry_id):
        flash(f"Delivery #{entry_id} ({topic}) is {status}, not failed: nothing to retry.",
              "info")
    else:
        flash(f"Delivery #{entry_id} ({topic}) is queued again.", "success")
    return _back_to("webhooks")


@bp.post("/admin/settings/inbox/retry")
@panel_page
def settings_retry_deliveries():
    """Retry every failed delivery of this store (`inbox retry`, for one store)."""
    session: Session = db.session
    session.commit()
    n = requeue_failed(session, g.shop.id)
    flash(f"{n} failed deliver{'y is' if n == 1 else 'ies are'} queued again." if n
          else "There are no failed deliveries to retry.", "success" if n else "info")
    return _back_to("webhooks")


@bp.post("/admin/settings/backfill")
@panel_page
def settings_start_import():
    """Queue the store's history import, as installing Sticky does."""
    session: Session = db.session
    shop: Shop = g.shop
    blocked = why_no_import(shop, latest_run(session, shop.id))
    if blocked:
        flash(blocked, "info")
        return _back_to("history")
    shop_id = shop.id
    session.commit()
    if start_first_backfill(shop_id):
        flash("History import queued: progress shows below.", "success")
    else:
        run = latest_run(session, shop_id)
        if run is not None and run.status == QUEUED:
            # Nothing will pick it up: say so rather than show "queued" for ever.
            run.status, run.error = RUN_FAILED, "it could not be queued (Redis unreachable)"
            run.finished_at = utcnow()
            session.commit()
        flash("The import could not be queued right now (the job queue is unreachable). "
              "Try again in a minute.", "error")
    return _back_to("history")


@bp.get("/admin/settings/privacy/exports/<int:export_id>")
@panel_page
def settings_download_export(export_id: int):
    """A data-request export as a JSON attachment (the same file as
    `GET /api/compliance/exports/<id>`), for either door."""
    export = shop_export(db.session, g.shop.id, export_id)
    if export is None:
        abort(404, description=f"this store has no data-request export with id {export_id}")
    response = jsonify(export.content)
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(export)}"'
    return response
