"""`/admin/loyalty/rewards`: the rewards catalogue (list, add, edit, deactivate, delete),
through `app.loyalty.rewards`, as `/api/loyalty/rewards` does."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request
from sqlalchemy.orm import Session

from app.db import db
from app.loyalty.figures import point_value
from app.loyalty.models import LoyaltyReward
from app.loyalty.rewards import (
    RewardInvalid,
    create_reward,
    delete_reward,
    get_reward,
    list_rewards,
    reward_as_dict,
    update_reward,
)
from app.money import money_text
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.panel.loyalty_forms import REWARD_KIND_LABELS, RewardForm


def describe_reward(reward: LoyaltyReward, currency: str | None) -> str:
    """What the shopper gets, in words: "$5.00 off", "15% off", "Free shipping"."""
    if reward.kind == "fixed_amount":
        return f"{money_text(reward.value, currency)} off"
    if reward.kind == "percentage":
        return f"{reward_as_dict(reward, currency)['value']}% off"
    return "Free shipping"


@bp.get("/admin/loyalty/rewards")
@panel_page
def loyalty_rewards():
    session: Session = db.session
    rows = list_rewards(session, g.shop.id)
    return render_template(
        "panel/loyalty_rewards.html", rewards=rows, currency=g.shop.currency,
        describe=describe_reward, money=money_text, kind_labels=REWARD_KIND_LABELS,
        best=point_value(session, g.shop.id), active_nav="panel.loyalty")


def _form_page(form: RewardForm, reward: LoyaltyReward | None, status: int = 200,
               loose_errors: list[str] | None = None):
    return render_template(
        "panel/loyalty_reward.html", form=form, reward=reward, currency=g.shop.currency,
        loose_errors=loose_errors or [], active_nav="panel.loyalty"), status


@bp.route("/admin/loyalty/rewards/new", methods=["GET", "POST"])
@panel_page
def loyalty_reward_new():
    form = RewardForm()
    if request.method == "GET":
        return _form_page(form, None)
    try:
        row = create_reward(db.session, g.shop.id, form.changes())
    except RewardInvalid as exc:
        db.session.rollback()
        return _form_page(form, None, 400, form.show_errors(exc.errors))
    name = row.name
    db.session.commit()
    flash(f"Reward “{name}” added.", "success")
    return redirect(panel_url("panel.loyalty_rewards"))


def _reward_or_404(reward_id: int) -> LoyaltyReward:
    row = get_reward(db.session, g.shop.id, reward_id)
    if row is None:
        abort(404, description=f"This store has no reward {reward_id} (it may have been "
                               "deleted).")
    return row


@bp.route("/admin/loyalty/rewards/<int:reward_id>", methods=["GET", "POST"])
@panel_page
def loyalty_reward(reward_id: int):
    row = _reward_or_404(reward_id)
    form = RewardForm()
    if request.method == "GET":
        form.fill(reward_as_dict(row, g.shop.currency))
        return _form_page(form, row)
    try:
        update_reward(db.session, row, form.changes())
    except RewardInvalid as exc:
        db.session.rollback()
        return _form_page(form, _reward_or_404(reward_id), 400, form.show_errors(exc.errors))
    name = row.name
    db.session.commit()
    flash(f"Reward “{name}” saved.", "success")
    return redirect(panel_url("panel.loyalty_rewards"))


@bp.post("/admin/loyalty/rewards/<int:reward_id>/active")
@panel_page
def loyalty_reward_active(reward_id: int):
    """Deactivate (or activate) a reward from the list: it stays, but cannot be redeemed."""
    row = _reward_or_404(reward_id)
    turn_on = request.form.get("active") == "on"
    update_reward(db.session, row, {"active": turn_on})
    name = row.name
    db.session.commit()
    flash(f"Reward “{name}” is active: members can redeem it." if turn_on else
          f"Reward “{name}” is inactive: members cannot redeem it until you activate it.",
          "success")
    return redirect(panel_url("panel.loyalty_rewards"))


@bp.post("/admin/loyalty/rewards/<int:reward_id>/delete")
@panel_page
def loyalty_reward_delete(reward_id: int):
    row = _reward_or_404(reward_id)
    name = row.name
    delete_reward(db.session, row)
    db.session.commit()
    flash(f"Reward “{name}” deleted. Codes already issued for it still work.", "success")
    return redirect(panel_url("panel.loyalty_rewards"))
