"""`/admin/loyalty` (the program at a glance, with its on/off switch) and
`/admin/loyalty/program` (the program's settings, with a live preview of the storefront
widget). Both save through `app.loyalty.program.save_program`, as `PUT /api/loyalty/program`
does: validated whole, versioned, never half-saved."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from flask import flash, g, redirect, render_template, request
from sqlalchemy.orm import Session

from app.analytics.periods import Period
from app.db import db
from app.loyalty.figures import (
    DEFINITIONS,
    NO_POINT_VALUE,
    LoyaltyFigures,
    ever_enabled,
    program_figures,
)
from app.loyalty.program import MAX_TIERS, ProgramInvalid, read_program, save_program
from app.loyalty.referrals import list_referrals
from app.loyalty.rewards import list_rewards
from app.money import money_text
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.panel.loyalty_forms import ProgramForm
from app.shops.models import Shop

PREVIEW_PATH = "/admin/loyalty/preview"  # the storefront widget's preview (app.loyalty.widget)


def point_value_text(figures: LoyaltyFigures, currency: str | None) -> str:
    """"1 point is worth 0.01 USD: “$5 off” gives $5.00 for 500 points.", or why there is
    no value per point."""
    value = figures.point_value
    if value is None:
        return NO_POINT_VALUE
    per_point = value.per_point.quantize(Decimal("0.0001")).normalize()
    worth = f"{per_point:f} {currency}" if currency else f"{per_point:f}"
    return (f"1 point is worth {worth}: “{value.reward_name}” gives "
            f"{money_text(value.reward_value, currency)} for {value.points_cost:,} points.")


def liability_text(figures: LoyaltyFigures, currency: str | None) -> str:
    return "—" if figures.liability is None else money_text(figures.liability, currency)


def loyalty_dashboard_card(session: Session, shop: Shop, period: Period) -> dict | None:
    """The dashboard's Loyalty card: points issued and redeemed in the period, outstanding
    and liability now. None (no card) unless the program has ever been switched on."""
    if not ever_enabled(session, shop.id):
        return None
    figures = program_figures(session, shop.id, since=period.start, until=period.end)
    return {"figures": figures, "definitions": DEFINITIONS,
            "liability": liability_text(figures, shop.currency),
            "point_value": point_value_text(figures, shop.currency)}


@bp.get("/admin/loyalty")
@panel_page
def loyalty():
    session: Session = db.session
    shop = g.shop
    program = read_program(session, shop.id)
    figures = program_figures(session, shop.id)
    rewards = list_rewards(session, shop.id)
    _, blocked_referrals = list_referrals(session, shop.id, status="blocked", page_size=1)
    return render_template(
        "panel/loyalty.html", program=program, figures=figures, definitions=DEFINITIONS,
        point_value=point_value_text(figures, shop.currency),
        liability=liability_text(figures, shop.currency),
        active_rewards=sum(1 for r in rewards if r.active), rewards_total=len(rewards),
        blocked_referrals=blocked_referrals)


@bp.post("/admin/loyalty/enabled")
@panel_page
def loyalty_switch():
    """The overview's switch: turn the program on or off (a new version, like any save)."""
    turn_on = request.form.get("enabled") == "on"
    try:
        save_program(db.session, g.shop.id, {"enabled": turn_on}, saved_by=g.panel.author)
    except ProgramInvalid as exc:  # a stored program from an older release, say
        db.session.rollback()
        flash(f"The program could not be saved: {exc}", "error")
        return redirect(panel_url("panel.loyalty"))
    db.session.commit()
    flash("The loyalty program is on: members earn points as your settings say."
          if turn_on else "The loyalty program is off: nobody earns points until you turn "
          "it on again. Balances are kept.", "success")
    return redirect(panel_url("panel.loyalty"))


def _preview_url(form: ProgramForm) -> tuple[str, str]:
    """The preview's address for the form as it stands, and its base (for panel.js)."""
    base = PREVIEW_PATH
    if g.panel.link_params:
        base += "?" + urlencode(g.panel.link_params)
    query = urlencode(form.preview_query())
    return base + ("&" if "?" in base else "?") + query, base


@bp.route("/admin/loyalty/program", methods=["GET", "POST"])
@panel_page
def loyalty_program():
    session: Session = db.session
    shop = g.shop
    current = read_program(session, shop.id)
    form = ProgramForm()
    status, loose_errors, unsaved = 200, [], False
    if request.method == "POST":
        if "add_tier" in request.form:
            form.add_tier_row()
            unsaved = True
        elif "remove_tier" in request.form:
            form.remove_tier_row(request.form.get("remove_tier"))
            unsaved = True
        else:
            try:
                save_program(session, shop.id, form.changes(), saved_by=g.panel.author)
            except ProgramInvalid as exc:
                session.rollback()
                loose_errors = form.show_errors(exc.errors)
                status = 400
            else:
                session.commit()
                flash("Program saved. The new rules apply to what happens from now on.",
                      "success")
                return redirect(panel_url("panel.loyalty_program"))
    else:
        form.fill(current)
    preview_src, preview_base = _preview_url(form)
    return render_template(
        "panel/loyalty_program.html", form=form, program=current, loose_errors=loose_errors,
        unsaved=unsaved, max_tiers=MAX_TIERS, preview_src=preview_src,
        preview_base=preview_base, currency=shop.currency or "",
        active_nav="panel.loyalty"), status
