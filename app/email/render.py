"""Rendering a flow's email step in Jinja2's `SandboxedEnvironment`.

FOUNDATION STUB: the email package's owner replaces this with the full version (the refusals
in words, documented variables only, CSS inlined, the text part derived from the HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

_ENV = SandboxedEnvironment(autoescape=True)
_TEXT_ENV = SandboxedEnvironment(autoescape=False)
FIELDS = ("subject", "html", "text", "preheader")


class TemplateRefused(ValueError):
    """A template cannot be rendered; `errors` maps the step's field to why, in words."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        field, reason = next(iter(errors.items()))
        super().__init__(f"{field}: {reason}")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str
    preheader: str | None = None


def check_templates(step: dict[str, Any]) -> dict[str, str]:
    """Errors by field of an email step's sources (empty: they compile and are safe)."""
    errors: dict[str, str] = {}
    for field in ("subject", "html"):
        if not isinstance(step.get(field), str) or not step[field].strip():
            errors[field] = "is required"
    for field in FIELDS:
        source = step.get(field)
        if field in errors or source is None:
            continue
        try:
            _ENV.parse(source)
        except TemplateSyntaxError as exc:
            errors[field] = f"line {exc.lineno}: {exc.message}"
    return errors


def render_email(step: dict[str, Any], variables: dict[str, Any]) -> RenderedEmail:
    """The step's subject, HTML and text rendered with `variables`; raises TemplateRefused."""
    try:
        subject = _TEXT_ENV.from_string(step["subject"]).render(variables).strip()
        html = _ENV.from_string(step["html"]).render(variables)
        text = (_TEXT_ENV.from_string(step["text"]).render(variables)
                if step.get("text") else html)
    except Exception as exc:  # noqa: BLE001 - any template failure is the template's
        raise TemplateRefused({"html": str(exc)}) from exc
    return RenderedEmail(subject, html, text, step.get("preheader"))
