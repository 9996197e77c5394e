"""The Loyalty pages' forms. They hold no rules of their own: each turns what was typed into
the object the API takes (`PUT /api/loyalty/program`, `POST /api/loyalty/rewards`), and puts
the service's reasons next to the fields they are about. Field names are the API's own
(tiers as `tiers-0-name`, ...), so a form's query string is also the preview's.

CSRF is the panel door's (app/panel/door.py), as for every panel form."""

from __future__ import annotations

import secrets
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    SearchField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import NumberInput

from app.loyalty.program import MAX_POINTS, MAX_TIERS, Program
from app.loyalty.rewards import FREE_SHIPPING, REWARD_KINDS

REWARD_KIND_LABELS = {"fixed_amount": "Amount off the order",
                      "percentage": "Percentage off the order",
                      "free_shipping": "Free shipping"}
MAX_REASON = 500


class PanelForm(FlaskForm):
    class Meta:
        csrf = False  # checked by panel_page for both doors


def _sentence(reason: str) -> str:
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def _whole_or_typed(typed: str | None) -> int | str:
    """A whole number when the text is one, else the text as typed, for the service to
    refuse in its own words."""
    text = (typed or "").strip()
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit() and len(digits) <= 9:
        return int(text)
    return text


def _text_or_none(typed: str | None) -> str | None:
    return (typed or "").strip() or None


class TierForm(Form):
    name = StringField("Name", render_kw={"maxlength": 64, "placeholder": "Gold"})
    threshold = StringField("Threshold", render_kw={"inputmode": "decimal",
                                                    "placeholder": "500"})
    multiplier = StringField("Earning multiplier", render_kw={"inputmode": "decimal",
                                                              "placeholder": "1.5"})
    perks = StringField("Perks", render_kw={"maxlength": 500,
                                            "placeholder": "Free shipping on every order"})

    def is_blank(self) -> bool:
        return not any((f.data or "").strip() for f in (self.name, self.threshold,
                                                        self.multiplier, self.perks))


_POINTS = NumberInput(min=0, max=MAX_POINTS)
_DAYS = NumberInput(min=0, max=3650)


class ProgramForm(PanelForm):
    enabled = BooleanField("Loyalty program is on")
    points_per_unit = StringField("Points per unit of currency",
                                  render_kw={"inputmode": "decimal"})
    award_on = SelectField("Award points when an order is", choices=[
        SelectChoice("paid", "Paid"), SelectChoice("fulfilled", "Fulfilled")])
    pending_days = StringField("Pending for (days)", widget=NumberInput(min=0, max=365))
    include_shipping = BooleanField("Count shipping")
    include_tax = BooleanField("Count tax")
    signup_points = StringField("Signing up", widget=_POINTS)
    first_order_points = StringField("First order", widget=_POINTS)
    birthday_points = StringField("Birthday", widget=_POINTS)
    negative_balance = SelectField("When a refund takes back points already spent", choices=[
        SelectChoice("allow", "Let the balance go below zero"),
        SelectChoice("floor_zero", "Stop at zero (the shortfall is recorded)")])
    expiry_days = StringField("Points expire after (days)", widget=_DAYS)
    expiry_warning_days = StringField("Warn members (days before)", widget=_DAYS)
    tier_basis = SelectField("Tiers are reached by", choices=[
        SelectChoice("spend", "Money spent"), SelectChoice("points", "Points earned")])
    tier_period = SelectField("Counted over", choices=[
        SelectChoice("rolling_12_months", "The last 12 months (rolling)"),
        SelectChoice("calendar_year", "The calendar year"),
        SelectChoice("lifetime", "All time")])
    tiers = FieldList(FormField(TierForm), max_entries=MAX_TIERS)
    referrals_enabled = BooleanField("Referrals are on")
    referral_advocate_points = StringField("Points for the member who refers", widget=_POINTS)
    referral_friend_kind = SelectField("The friend's welcome reward", choices=[
        SelectChoice(kind, REWARD_KIND_LABELS[kind]) for kind in REWARD_KINDS])
    referral_friend_value = StringField("Its value", render_kw={"inputmode": "decimal"})
    referral_friend_minimum_order = StringField("Minimum order for it",
                                                render_kw={"inputmode": "decimal"})
    referral_weekly_ip_limit = StringField("Referrals a week from one IP address",
                                           widget=NumberInput(min=1, max=1000))

    def fill(self, program: Program) -> None:
        values = program.as_dict()
        for name, field in self._fields.items():
            if name == "tiers":
                continue
            value = values.get(name)
            field.data = value if isinstance(value, bool) else ("" if value is None
                                                                 else str(value))
        while self.tiers.entries:
            self.tiers.pop_entry()
        for tier in values["tiers"]:
            self.tiers.append_entry(tier)

    def add_tier_row(self) -> bool:
        if len(self.tiers.entries) >= MAX_TIERS:
            self.tiers.errors = [f"A program has at most {MAX_TIERS} tiers."]
            return False
        self.tiers.append_entry()
        return True

    def remove_tier_row(self, index_text: str | None) -> None:
        """Remove the row the "Remove" button named (its position on the page)."""
        text = (index_text or "").strip()
        if text.isascii() and text.isdigit() and int(text) < len(self.tiers.entries):
            del self.tiers.entries[int(text)]

    def _tier_rows(self) -> list[int]:
        """Positions of the rows that hold something (an empty row is not a tier)."""
        return [i for i, entry in enumerate(self.tiers.entries) if not entry.form.is_blank()]

    def changes(self) -> dict[str, Any]:
        """What was typed, as a partial program for `save_program`."""
        changes: dict[str, Any] = {}
        for name, field in self._fields.items():
            if name == "tiers":
                continue
            if isinstance(field, BooleanField):
                changes[name] = bool(field.data)
            elif isinstance(field.widget, NumberInput):
                changes[name] = _whole_or_typed(field.data)
            else:
                changes[name] = (field.data or "").strip()
        changes["expiry_days"] = (None if changes["expiry_days"] == ""
                                  else changes["expiry_days"])
        changes["referral_friend_minimum_order"] = _text_or_none(
            self.referral_friend_minimum_order.data)
        tiers = []
        for i in self._tier_rows():
            row = self.tiers.entries[i].form
            tier = {"name": (row.name.data or "").strip(),
                    "threshold": (row.threshold.data or "").strip(),
                    "perks": (row.perks.data or "").strip()}
            multiplier = (row.multiplier.data or "").strip()
            tier["multiplier"] = multiplier or "1"
            tiers.append(tier)
        changes["tiers"] = tiers
        return changes

    def show_errors(self, errors: dict[str, str]) -> list[str]:
        """Put each reason next to its field; returns those with no field to go to."""
        rows = self._tier_rows()
        loose = []
        for key, reason in errors.items():
            parts = key.split(".")
            field: Field | None = None
            if parts[0] == "tiers" and len(parts) > 1 and parts[1].isdigit() \
                    and int(parts[1]) < len(rows):
                row = self.tiers.entries[rows[int(parts[1])]].form
                field = getattr(row, parts[2], None) if len(parts) > 2 else row.name
            elif parts[0] in self._fields:
                field = self._fields[parts[0]]
            if field is None:
                loose.append(f"{key}: {reason}")
            elif isinstance(field, FieldList):
                field.errors = [_sentence(reason)]
            else:
                field.errors = [_sentence(reason)]
        return loose

    def preview_query(self) -> list[tuple[str, str]]:
        """The form's fields as the browser would send them: the live preview's query."""
        pairs: list[tuple[str, str]] = []
        for name, field in self._fields.items():
            if name == "tiers":
                for entry in self.tiers.entries:
                    pairs.extend((sub.name, sub.data or "") for sub in entry.form)
            elif isinstance(field, BooleanField):
                if field.data:
                    pairs.append((name, "y"))
            else:
                pairs.append((name, "" if field.data is None else str(field.data)))
        return pairs


class RewardForm(PanelForm):
    name = StringField("Name", render_kw={"maxlength": 120, "placeholder": "$5 off"})
    kind = SelectField("Kind", choices=[SelectChoice(k, REWARD_KIND_LABELS[k])
                                        for k in REWARD_KINDS])
    value = StringField("Value", render_kw={"inputmode": "decimal", "placeholder": "5"})
    points_cost = StringField("Points cost", widget=NumberInput(min=1, max=MAX_POINTS))
    minimum_order = StringField("Minimum order", render_kw={"inputmode": "decimal",
                                                            "placeholder": "None"})
    expires_after_days = StringField("Code expires after (days)", widget=_DAYS,
                                     render_kw={"placeholder": "Never"})
    active = BooleanField("Active: members can redeem it", default=True)

    def fill(self, reward: dict[str, Any]) -> None:
        for name, field in self._fields.items():
            value = reward.get(name)
            field.data = value if isinstance(value, bool) else ("" if value is None
                                                                else str(value))

    def changes(self) -> dict[str, Any]:
        value = (self.value.data or "").strip()
        changes: dict[str, Any] = {
            "name": self.name.data or "", "kind": self.kind.data,
            "points_cost": _whole_or_typed(self.points_cost.data),
            "minimum_order": _text_or_none(self.minimum_order.data),
            "expires_after_days": (None if not (self.expires_after_days.data or "").strip()
                                   else _whole_or_typed(self.expires_after_days.data)),
            "active": bool(self.active.data),
        }
        if value or self.kind.data != FREE_SHIPPING:
            changes["value"] = value
        return changes

    def show_errors(self, errors: dict[str, str]) -> list[str]:
        loose = []
        for key, reason in errors.items():
            field = self._fields.get(key)
            if field is None:
                loose.append(f"{key}: {reason}")
            else:
                field.errors = [_sentence(reason)]
        return loose


class AdjustForm(PanelForm):
    """A manual adjustment. `key` is drawn when the form is drawn: submitting the same form
    twice (a double click, a resent post) is one adjustment."""

    points = StringField("Points", widget=NumberInput(min=-MAX_POINTS, max=MAX_POINTS),
                         render_kw={"placeholder": "50 or -50"})
    reason = TextAreaField("Reason", render_kw={"rows": 2, "maxlength": MAX_REASON,
                                                "placeholder": "Apology for a late delivery"})
    key = HiddenField()

    def draw_key(self) -> None:
        self.key.data = secrets.token_urlsafe(16)

    def parsed(self, balance: int, floor_zero: bool) -> tuple[int, str] | None:
        """(points, reason), or None with the errors set on the fields."""
        points = _whole_or_typed(self.points.data)
        reason = (self.reason.data or "").strip()
        if not isinstance(points, int) or not -MAX_POINTS <= points <= MAX_POINTS:
            self.points.errors = [f"Enter a whole number of points from -{MAX_POINTS:,} to "
                                  f"{MAX_POINTS:,} (negative takes points away)."]
        elif points == 0:
            self.points.errors = ["Enter a number of points other than 0."]
        elif floor_zero and balance + points < 0:
            self.points.errors = [f"This would take the balance below zero ({balance:,} "
                                  "points now), and the program stops balances at zero."]
        if not reason:
            self.reason.errors = ["Say why: the reason is kept with the entry and shown in "
                                  "the history."]
        elif len(reason) > MAX_REASON:
            self.reason.errors = [f"Keep the reason to {MAX_REASON} characters."]
        key = (self.key.data or "").strip()
        if not key or len(key) > 64:
            self.key.data = ""
            self.points.errors = [*self.points.errors,
                                  "This form has expired: reload the page and try again."]
        if self.points.errors or self.reason.errors:
            return None
        return points, reason  # type: ignore[return-value]


class MemberSearchForm(PanelForm):
    q = SearchField("Search members", render_kw={"placeholder": "Search by name or email",
                                                 "maxlength": 255})
    sort = HiddenField()
