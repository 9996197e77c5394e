"""The Settings page's form. It holds no rules of its own: it turns what was typed into the
same partial settings object `PUT /api/settings` takes, and puts the service's reasons next
to the fields they are about."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.widgets import EmailInput, NumberInput, TimeInput

from app.settings.service import StoreSettings, time_zone_names

NUMBER_FIELDS = ("smart_sending_hours", "attribution_click_days", "attribution_open_days")
# A service error key → the form field it is shown next to.
ERROR_FIELDS = {"quiet_hours": "quiet_hours_start", "quiet_hours.start": "quiet_hours_start",
                "quiet_hours.end": "quiet_hours_end"}


class SettingsForm(FlaskForm):
    # CSRF is the panel door's (app/panel/door.py): the session's token on standalone posts,
    # a fresh session token on embedded ones, which carry no CSRF token at all.
    class Meta:
        csrf = False

    sender_name = StringField("Sender name")
    sender_email = StringField("Sender email", widget=EmailInput())
    reply_to = StringField("Reply-to email", widget=EmailInput())
    timezone = SelectField("Time zone", validate_choice=False)
    smart_sending_hours = StringField("Smart sending (hours)", widget=NumberInput(min=0, max=168))
    quiet_hours_enabled = BooleanField("Hold emails during quiet hours")
    quiet_hours_start = StringField("Quiet from", widget=TimeInput())
    quiet_hours_end = StringField("Quiet until", widget=TimeInput())
    attribution_click_days = StringField("After a click (days)",
                                         widget=NumberInput(min=0, max=90))
    attribution_open_days = StringField("After an open (days)", widget=NumberInput(min=0, max=90))

    def offer_time_zones(self, platform_label: str) -> None:
        """The select's options: "follow the platform" first, then every IANA zone."""
        self.timezone.choices = [("", platform_label)] + [(z, z) for z in time_zone_names()]

    def fill(self, settings: StoreSettings) -> None:
        """Show the saved values (empty where a default is followed: the placeholder and the
        help text say which)."""
        self.sender_name.data = settings.sender_name_chosen or ""
        self.sender_email.data = settings.sender_email or ""
        self.reply_to.data = settings.reply_to or ""
        self.timezone.data = settings.timezone_chosen or ""
        self.smart_sending_hours.data = str(settings.smart_sending_hours)
        self.quiet_hours_enabled.data = settings.quiet_hours is not None
        quiet = settings.quiet_hours or {"start": "22:00", "end": "08:00"}
        self.quiet_hours_start.data = quiet["start"]
        self.quiet_hours_end.data = quiet["end"]
        self.attribution_click_days.data = str(settings.attribution_click_days)
        self.attribution_open_days.data = str(settings.attribution_open_days)

    def changes(self) -> dict[str, Any]:
        """What was typed, as a settings object. An empty text field means "the default"
        (the store's name, the platform's zone, no reply-to); an empty sender email unsets
        it. Numbers that are not digits are passed on as typed, for the service to refuse."""
        def text(field: StringField) -> str | None:
            value = (field.data or "").strip()
            return value or None

        changes: dict[str, Any] = {
            "sender_name": text(self.sender_name),
            "sender_email": text(self.sender_email),
            "reply_to": text(self.reply_to),
            "timezone": self.timezone.data or None,
            "quiet_hours": ({"start": (self.quiet_hours_start.data or "").strip(),
                             "end": (self.quiet_hours_end.data or "").strip()}
                            if self.quiet_hours_enabled.data else None),
        }
        for name in NUMBER_FIELDS:
            typed = (getattr(self, name).data or "").strip()
            whole = typed.isascii() and typed.isdigit() and len(typed) <= 9
            changes[name] = int(typed) if whole else typed
        return changes

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, reason in errors.items():
            field = getattr(self, ERROR_FIELDS.get(key, key), None)
            if field is not None:
                field.errors = [_sentence(reason)]


def _sentence(reason: str) -> str:
    """A service reason ("must be 1 to 100 characters") as a message next to its field."""
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
