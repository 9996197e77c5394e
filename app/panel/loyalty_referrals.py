"""`/admin/loyalty/referrals`: the store's referrals, the blocked ones with why, and an
Approve button that overrides the fraud checks (the same functions as `/api/loyalty/referrals`)."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, g, redirect, render_template, request

from app.customers.display import LocalTime
from app.customers.query import parse_page
from app.db import db
from app.loyalty.program import read_program
from app.loyalty.referrals import (
    PAGE_SIZE,
    STATUSES,
    ApprovalRefused,
    ReferralNotFound,
    approve,
    list_referrals,
)
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.settings.timezone import shop_zone

MAX_PAGE = 10_000
STATUS_LABELS = {
    "invited": ("Invited", "info"), "ordered": ("Ordered", None),
    "rewarded": ("Rewarded", "success"), "blocked": ("Blocked", "critical"),
    "approved": ("Approved", "attention"), "cancelled": ("Cancelled", None),
}
FILTERS = (("", "All"), ("blocked", "Blocked"), ("invited", "Invited"),
           ("rewarded", "Rewarded"), ("approved", "Approved"), ("cancelled", "Cancelled"))


def _loyalty_url() -> str:
    return panel_url("panel.loyalty")


@bp.get("/admin/loyalty/referrals")
@panel_page
def loyalty_referrals():
    session = db.session
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        abort(400, description=f"There is no referral status “{status}”. Choose one of the "
                               "filters on the page.")
    page = parse_page(request.args, "page", 1, MAX_PAGE)
    if isinstance(page, str):
        abort(400, description=page[:1].upper() + page[1:] + ".")
    referrals, total = list_referrals(session, g.shop.id, status=status, page=page)
    pages = max(1, -(-total // PAGE_SIZE))
    program = read_program(session, g.shop.id)
    when = LocalTime(shop_zone(session, g.shop))

    def page_url(number: int) -> str:
        return panel_url("panel.loyalty_referrals", status=status, page=number)

    return render_template(
        "panel/loyalty_referrals.html", referrals=referrals, total=total, page=page,
        pages=pages, status=status, filters=FILTERS, labels=STATUS_LABELS, program=program,
        day=lambda iso: when.date(datetime.fromisoformat(iso)), back_url=_loyalty_url(),
        filter_url=lambda value: panel_url("panel.loyalty_referrals", status=value or None),
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
        first_index=(page - 1) * PAGE_SIZE + 1, last_index=(page - 1) * PAGE_SIZE + len(referrals))


@bp.post("/admin/loyalty/referrals/<int:referral_id>/approve")
@panel_page
def loyalty_referral_approve(referral_id: int):
    try:
        outcome = approve(db.session, g.shop, referral_id, reviewed_by=g.panel.author)
    except ReferralNotFound:
        db.session.rollback()
        abort(404, description=f"No referral {referral_id} in this store.")
    except ApprovalRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        if outcome.status == "issued":
            flash(f"Referral approved. The friend's code {outcome.code} is ready; they see it "
                  "when they open the link again.", "success")
        elif outcome.status == "cancelled":
            flash("Referral approved, but the friend's order was refunded or cancelled, so "
                  "the advocate earns nothing.", "success")
        else:
            flash("Referral approved. The friend's code could not be made just now; it is "
                  "made when they open the link again.", "success")
    return redirect(panel_url("panel.loyalty_referrals",
                              status=request.args.get("status") or None))
