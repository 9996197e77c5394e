"""`/admin/analytics/rfm`: the store's RFM segments (app/analytics/rfm.py): customers, share,
revenue share and average spend per segment with a link to them in the customer list, the
recency x frequency grid, the rule table, when the scores were computed, and "Recompute now".
Also `rfm_card(customer)`, what a profile's RFM card (panel/customer_rfm_card.html) shows."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template

from app.analytics.rfm import refresh_shop
from app.analytics.rfm_models import RfmCutoffs
from app.analytics.rfm_report import cut_point_rows, rfm_overview
from app.customers.display import LocalTime, money
from app.db import db
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.profiles.models import Customer
from app.profiles.rfm_rules import DESCRIPTIONS, GRID, SCORES, fm_score
from app.settings.timezone import shop_zone

# One-line definitions shown next to each figure.
DEFINITIONS = {
    "customers": "Customers in the segment: not deleted, with at least one counted order.",
    "share": "Their share of all scored customers.",
    "revenue_share": "Their share of the scored customers' net spent (all time, after refunds).",
    "average_spent": "Net spent per customer in the segment, all time.",
    "recency": "Recency (R): days since the last counted order; 5 = most recent fifth.",
    "frequency": "Frequency (F): counted orders; 5 = the fifth with the most orders.",
    "monetary": "Monetary (M): net spent, after refunds; 5 = the fifth who spent the most.",
}


def _percent(share) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _cut_text(dimension: str, cut: Any, currency: str) -> str:
    if cut is None:
        return "nobody"
    if dimension == "Recency":
        return f"≤ {cut} day{'s' if cut != 1 else ''}"
    if dimension == "Monetary":
        return "≥ " + money(cut, currency)
    return f"≥ {cut} order{'s' if cut != 1 else ''}"


@bp.get("/admin/analytics/rfm")
@panel_page
def analytics_rfm():
    session, shop = db.session, g.shop
    overview = rfm_overview(session, shop.id)
    zone = shop_zone(session, shop)
    cuts = [(label, unit, [_cut_text(label, c, shop.currency) for c in values])
            for label, unit, values in cut_point_rows(overview.cutoffs)]
    has_buyers = session.query(Customer.id).filter(
        Customer.shop_id == shop.id, Customer.deleted_at.is_(None),
        Customer.orders_count > 0).first() is not None
    return render_template(
        "panel/analytics_rfm.html", overview=overview, grid_rules=GRID, scores=SCORES,
        definitions=DEFINITIONS, cuts=cuts, has_buyers=has_buyers, when=LocalTime(zone),
        money=lambda amount: money(amount, shop.currency), percent=_percent,
        segment_url=lambda name: panel_url("panel.customers", segment=name),
        active_nav="panel.analytics")


@bp.post("/admin/analytics/rfm/refresh")
@panel_page
def analytics_rfm_refresh():
    """Recompute the store's cut points and every customer's scores now."""
    session = db.session
    result = refresh_shop(session, g.shop.id)
    session.commit()
    n = result["customers_scored"]
    if n:
        flash(f"Scores recomputed for {n:,} customer{'s' if n != 1 else ''}: "
              f"{result['changed']:,} changed segment or score.", "success")
    else:
        flash("Nothing to score yet: no customer has a counted order.", "success")
    return redirect(panel_url("panel.analytics_rfm"))


@bp.app_template_global()
def rfm_card(customer: Customer) -> dict[str, Any]:
    """A profile's RFM scores, segment and its meaning, and when the store was scored."""
    scores = (customer.rfm_recency, customer.rfm_frequency, customer.rfm_monetary)
    cutoffs = db.session.get(RfmCutoffs, customer.shop_id)
    return {
        "segment": customer.rfm_segment,
        "description": DESCRIPTIONS.get(customer.rfm_segment or ""),
        "scored": all(s is not None for s in scores),
        "r": scores[0], "f": scores[1], "m": scores[2],
        "fm": fm_score(scores[1], scores[2]) if None not in scores else None,
        "computed_at": cutoffs.computed_at if cutoffs is not None else None,
        "definitions": DEFINITIONS,
    }
