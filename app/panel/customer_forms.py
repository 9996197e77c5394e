"""The forms of the customer pages. CSRF is not WTForms' job here: `panel_page` checks the
session's token on standalone posts and the session token on embedded ones, and
`ui.form_guard()` puts the hidden input in every form. Values are checked by the same
functions the API uses (`app.customers.notes`, `app.customers.query`), so the panel and the
API refuse the same input with the same words."""

from __future__ import annotations

from collections.abc import Callable

from flask_wtf import FlaskForm
from wtforms import HiddenField, SearchField, SelectField, StringField, TextAreaField
from wtforms.fields import DateField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from app.customers.models import MAX_NOTE_LENGTH, MAX_TAG_LENGTH
from app.customers.notes import InvalidInput, note_body, tag_text


class PanelForm(FlaskForm):
    class Meta:
        csrf = False  # checked by panel_page for both doors (see the module docstring)


def _checked_by(parse: Callable[[object], str]):
    def check(_form, field) -> None:
        try:
            parse(field.data or "")
        except InvalidInput as exc:
            raise ValidationError(str(exc)) from None
    return check


class CustomerFilterForm(PanelForm):
    """The list's search and filters (a GET form). Its values are read and checked by
    `app.customers.query.parse_filters`; the view copies that function's messages onto the
    fields, so this class only draws them."""

    q = SearchField("Search customers", render_kw={
        "placeholder": "Search by name, email, tag or note", "maxlength": 255})
    has_orders = SelectField("Orders", choices=[
        SelectChoice("", "Any"), SelectChoice("yes", "Has ordered"),
        SelectChoice("no", "Never ordered")])
    email_marketing = SelectField("Email marketing", choices=[
        SelectChoice("", "Any"), SelectChoice("subscribed", "Subscribed"),
        SelectChoice("unsubscribed", "Unsubscribed"),
        SelectChoice("not_subscribed", "Not subscribed")])
    last_order_from = DateField("Last order from")
    last_order_to = DateField("Last order to")
    min_spent = StringField("Spent at least", render_kw={"inputmode": "decimal",
                                                         "placeholder": "0.00"})
    max_spent = StringField("Spent at most", render_kw={"inputmode": "decimal",
                                                        "placeholder": "Any"})
    tag = StringField("Tag", render_kw={"list": "merchant-tags", "maxlength": MAX_TAG_LENGTH})
    segment = SelectField("Segment", choices=[SelectChoice("", "Any")], validate_choice=False,
                          description="A saved segment (Segments page), counted as of now.")
    sort = HiddenField()

    def offer_segments(self, choices: list[tuple[str, str]]) -> None:
        """The store's segments as (value, name); a value asked for but not among them (an
        RFM group's name, from an older link) stays selectable."""
        offered = [SelectChoice("", "Any"), *(SelectChoice(v, n) for v, n in choices)]
        current = self.segment.data or ""
        if current and current not in {v for v, _ in choices}:
            offered.append(SelectChoice(current, current))
        self.segment.choices = offered


class NoteForm(PanelForm):
    body = TextAreaField("Add a note", validators=[_checked_by(note_body)],
                         render_kw={"rows": 3, "maxlength": MAX_NOTE_LENGTH})


class TagForm(PanelForm):
    tag = StringField("Add a tag", validators=[_checked_by(tag_text)],
                      render_kw={"maxlength": MAX_TAG_LENGTH, "placeholder": "VIP"})
