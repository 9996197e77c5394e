"""`/admin/flows/suppressions`: addresses no flow mails again (a mail server refused them for
good, or a complaint), with why and when; the merchant can lift one (say, after the shopper
fixed their mailbox), and the next flow email to it goes out as usual."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template
from sqlalchemy import select

from app.db import db
from app.flows.models import EmailSuppression
from app.panel import bp
from app.panel.door import panel_page, panel_url

SHOWN = 200


@bp.get("/admin/flows/suppressions")
@panel_page
def flow_suppressions():
    rows = db.session.scalars(
        select(EmailSuppression).where(EmailSuppression.shop_id == g.shop.id)
        .order_by(EmailSuppression.created_at.desc(), EmailSuppression.id.desc()).limit(SHOWN))
    return render_template("panel/flow_suppressions.html", rows=list(rows), shown=SHOWN,
                           active_nav="panel.flows")


@bp.post("/admin/flows/suppressions/<int:suppression_id>/lift")
@panel_page
def flow_suppression_lift(suppression_id: int):
    row = db.session.scalar(select(EmailSuppression).where(
        EmailSuppression.shop_id == g.shop.id, EmailSuppression.id == suppression_id))
    if row is None:
        abort(404, description="This address is not suppressed in this store (it may have "
                               "been lifted already).")
    address = row.email_normalized
    db.session.delete(row)
    db.session.commit()
    flash(f"{address} can receive flow emails again. Emails skipped while it was suppressed "
          "are not sent later.", "success")
    return redirect(panel_url("panel.flow_suppressions"))


def suppression_for(session, shop_id: int, email: str | None) -> EmailSuppression | None:
    """The suppression of a shopper's address, if any (for their profile)."""
    if not email:
        return None
    return session.scalar(select(EmailSuppression).where(
        EmailSuppression.shop_id == shop_id,
        EmailSuppression.email_normalized == email.strip().lower()))
