"""Rendering a flow's email step: Jinja2's sandbox → CSS inlined → a plain-text part.

A merchant writes an email step's `subject`, `html`, optional `text` and `preheader` as Jinja2
sources. They render in an `ImmutableSandboxedEnvironment` (Jinja2 ≥ 3.1.6, which closes the
published `str.format` and `|attr` escapes), with autoescaping for the HTML and none for the
subject and text. Sources may `{% extends "layout.html" %}` and
`{% import "_components.html" as c %}`: the loader sees templates/email and nothing else.

Two guards, so the editor can say what is wrong before anything is sent:
- `check_templates(step)` compiles each source, refuses statically whatever reaches Python's
  internals (an attribute or key starting with "_", `mro`, `.format`/`.format_map`, the `attr`
  filter, a filter's `attribute=` naming such a thing), in words with the line number, then
  renders the step once with `sample_variables()`; a refusal at render time is a message too.
- at render time the sandbox refuses the same things (`SecurityError`), including names
  built at render time; the immutable sandbox refuses changing the variables in place; a
  dict offers its keys, never its methods (`checkout.items` is the list of items); loops over
  ranges and repeated text have a budget per render. `render_email` raises `TemplateRefused`.

The variables a template can use are `VARIABLES` (name → what it is); app/flows/variables.py
builds them. A missing value is empty, however deep (`customer.nothing.deeper`: Jinja's
`ChainableUndefined`), never an error.
"""

from __future__ import annotations

import re
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import (
    ChainableUndefined,
    FileSystemLoader,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    nodes,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range

from app.email.text import html_to_text

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "email"
FIELDS = ("subject", "preheader", "html", "text")
SUBJECT_MAX = 250
# Attributes no template needs and every published sandbox escape uses.
_REFUSED_ATTRIBUTES = frozenset({"format", "format_map", "mro", "func_globals", "f_globals",
                                 "gi_frame", "gi_code", "cr_frame", "ag_frame", "tb_frame"})
# Filters that take an attribute name as a string (`attribute=` or their first argument).
_ATTRIBUTE_FILTERS = frozenset({"map", "selectattr", "rejectattr", "sort", "groupby", "sum",
                                "unique", "min", "max", "dictsort"})
_MAX_SEQUENCE = 100_000  # the longest string or list `*` may make (a template is not a DoS)
# What one render may spend on ranges and repeated text, in items: nested loops over ranges
# would otherwise keep a worker (or the editor's preview) busy for hours.
_WORK_MAX = 200_000
_work_left: ContextVar[list[int] | None] = ContextVar("sticky_email_work_left", default=None)


def _spend(items: int) -> None:
    left = _work_left.get()
    if left is None:
        return
    left[0] -= items
    if left[0] < 0:
        raise SecurityError("templates cannot do this much work (loops over ranges or "
                            "repeated text add up to more than 200,000 items)")


def _budgeted_range(*args: int) -> range:
    numbers = safe_range(*args)
    _spend(len(numbers))
    return numbers


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


class _EmailSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, stricter: a dict's keys only (no methods), no
    `format`/`format_map`/`mro` at all (whatever the object), and no `*`/`**` that would
    build a huge string or number."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        _refuse_internal(obj, attribute)
        # The variables are dicts: `checkout.items` is the key "items", never dict.items, and
        # a dict offers its keys only (a missing one is empty), none of its methods.
        if isinstance(obj, dict):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _refuse_internal(obj, argument)
        if isinstance(obj, dict):
            if argument in obj:
                return obj[argument]
            return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja returns an Undefined that fails only when used further, so `|attr('__x__')`
        # or `''[name]` would print nothing; here the attempt itself is refused.
        raise SecurityError(f"access to attribute {attribute!r} of "
                            f"{type(obj).__name__!r} object is unsafe.")

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_") or attr in _REFUSED_ATTRIBUTES:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(times, int)
                        and len(seq) * times > _MAX_SEQUENCE):
                    raise SecurityError("templates cannot build text or lists that large")
            result = left * right
            if isinstance(result, str | list | tuple):
                _spend(len(result))
            return result
        if isinstance(right, int) and abs(right) > 100:
            raise SecurityError("templates cannot raise numbers to powers above 100")
        return left**right


def _refuse_internal(obj: Any, name: Any) -> None:
    # Before Jinja's own checks, which would hand out a "safe" str.format wrapper.
    if isinstance(name, str) and (name.startswith("_") or name in _REFUSED_ATTRIBUTES):
        raise SecurityError(f"access to attribute {name!r} of {type(obj).__name__!r} object "
                            "is unsafe.")


def _environment(*, autoescape: bool) -> _EmailSandbox:
    env = _EmailSandbox(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=autoescape,
                        undefined=ChainableUndefined, auto_reload=False, cache_size=64)
    env.globals["range"] = _budgeted_range
    return env


_HTML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Template:
    # A flow's sources are few and rendered thousands of times: compile each once.
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


# -- the variables ----------------------------------------------------------------------

VARIABLES: dict[str, str] = {
    "shop.name": "The store's name",
    "shop.url": "The store's web address",
    "shop.currency": "The store's currency code, e.g. EUR",
    "customer.first_name": "The shopper's first name (empty when unknown)",
    "customer.last_name": "The shopper's last name",
    "customer.full_name": "First and last name together",
    "customer.email": "The shopper's email address",
    "customer.orders_count": "How many orders the shopper has placed",
    "customer.total_spent": "What the shopper has spent in total, in the store's currency",
    "customer.points_balance": "The shopper's loyalty points available now",
    "customer.tier": "The shopper's loyalty tier (empty without one)",
    "event": "The facts of the event that started the flow",
    "checkout.items": "An abandoned checkout's lines: title, variant_title, quantity, price, "
                      "image_url (empty outside abandoned-checkout flows)",
    "checkout.total": "The checkout's total",
    "checkout.currency": "The checkout's currency",
    "checkout.recovery_url": "The link back to the shopper's checkout",
    "order.name": "The order's name, e.g. #1001 (post-purchase and feedback flows)",
    "order.items": "The order's lines: title, variant_title, quantity, price, image_url",
    "order.total": "The order's total",
    "order.currency": "The order's currency",
    "discount.code": "The code made by this flow's latest discount step",
    "discount.kind": "fixed_amount, percentage or free_shipping",
    "discount.value": "The amount or percentage off",
    "discount.expires_at": "When the code stops working (empty: never)",
    "recommendations": "Products this store's customers often buy with what the shopper "
                       "bought: title, url, image_url, price",
    "survey.question": "The feedback question (steps with a survey)",
    "survey.scores": "The answers, each with its score and the one-click url that records it",
    "loyalty.points_balance": "Points available now",
    "loyalty.tier": "The shopper's tier",
    "loyalty.points": "The points this notice is about (earned, or about to expire)",
    "loyalty.expiring_points": "Points that will expire",
    "loyalty.expires_at": "When they expire",
    "loyalty.reward": "The reward the shopper can now claim",
    "unsubscribe_url": "The shopper's one-click unsubscribe page (always include it)",
    "preferences_url": "The same page, under the name email preferences",
    "preheader": "The preview text shown after the subject in the inbox",
    "subject": "The email's subject, as rendered (in the HTML only)",
}


def sample_variables() -> dict[str, Any]:
    """Realistic made-up values of every documented variable, for previews without a
    shopper and for the trial render of `check_templates`."""
    items = [
        {"title": "Linen shirt", "variant_title": "Sand / M", "quantity": 1, "price": "49.00",
         "image_url": "https://cdn.example.com/linen-shirt.jpg"},
        {"title": "Canvas tote", "variant_title": None, "quantity": 2, "price": "18.50",
         "image_url": "https://cdn.example.com/canvas-tote.jpg"},
    ]
    return {
        "shop": {"name": "Harbour Goods", "url": "https://harbour-goods.example.com",
                 "currency": "EUR"},
        "customer": {"first_name": "Maya", "last_name": "Lindqvist",
                     "full_name": "Maya Lindqvist", "email": "maya@example.com",
                     "orders_count": 3, "total_spent": "212.40", "points_balance": 240,
                     "tier": "Silver"},
        "event": {"kind": "checkout_started"},
        "checkout": {"items": items, "total": "86.00", "currency": "EUR",
                     "recovery_url": "https://harbour-goods.example.com/checkouts/c/abc123"},
        "order": {"name": "#1042", "items": items, "total": "86.00", "currency": "EUR"},
        "discount": {"code": "COMEBACK-7K2Q", "kind": "percentage", "value": "10",
                     "expires_at": "2026-12-31"},
        "recommendations": [
            {"title": "Wool beanie", "url": "https://harbour-goods.example.com/products/beanie",
             "image_url": "https://cdn.example.com/beanie.jpg", "price": "22.00"},
        ],
        "survey": {"question": "How likely are you to recommend Harbour Goods to a friend?",
                   "scores": [{"score": n, "url": f"https://sticky.example.com/t/s/sample-{n}"}
                              for n in range(11)]},
        "loyalty": {"points_balance": 240, "tier": "Silver", "points": 50,
                    "expiring_points": 120, "expires_at": "2027-01-31",
                    "reward": "EUR 5 off your next order"},
        "unsubscribe_url": "https://sticky.example.com/unsubscribe/sample",
        "preferences_url": "https://sticky.example.com/unsubscribe/sample",
    }


# -- checking ---------------------------------------------------------------------------

def _refused_name(name: Any) -> bool:
    return isinstance(name, str) and (name.startswith("_") or name in _REFUSED_ATTRIBUTES)


def _dotted_refused(value: Any) -> str | None:
    """For a filter's `attribute="a.b"`: the part that is refused, if any."""
    if not isinstance(value, str):
        return None
    return next((part for part in value.split(".") if _refused_name(part)), None)


def _static_refusals(tree: nodes.Template) -> list[str]:
    """Refusals in source order: by line, and innermost first within an expression
    (`''.__class__.__mro__` names '__class__' first)."""
    found: list[tuple[int, str]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Test,
                               nodes.Name)):
        line = f"line {node.lineno}"
        if isinstance(node, nodes.Getattr) and _refused_name(node.attr):
            found.append((node.lineno, f"{line}: templates cannot reach '{node.attr}'"))
        elif (isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
              and _refused_name(node.arg.value)):
            found.append((node.lineno, f"{line}: templates cannot reach '{node.arg.value}'"))
        elif isinstance(node, nodes.Name) and node.name.startswith("__"):
            found.append((node.lineno, f"{line}: templates cannot reach '{node.name}'"))
        elif isinstance(node, nodes.Filter | nodes.Test):
            if isinstance(node, nodes.Filter) and node.name == "attr":
                found.append((node.lineno, f"{line}: templates cannot use the 'attr' "
                                           "filter; write variable.name instead"))
                continue
            if node.name not in _ATTRIBUTE_FILTERS:
                continue
            values = [kw.value.value for kw in node.kwargs
                      if kw.key == "attribute" and isinstance(kw.value, nodes.Const)]
            # Their first argument names an attribute (later ones are values, e.g. the '_x'
            # of selectattr('sku', 'equalto', '_x')).
            values += [arg.value for arg in node.args[:1] if isinstance(arg, nodes.Const)]
            for value in values:
                part = _dotted_refused(value)
                if part:
                    found.append((node.lineno, f"{line}: templates cannot reach '{part}'"))
    found.reverse()
    return [words for _, words in sorted(found, key=lambda item: item[0])]


def _line_of(exc: BaseException) -> int | None:
    """The template line a render-time error happened on (Jinja rewrites the traceback so
    template frames carry the template's own line numbers)."""
    line = getattr(exc, "lineno", None)
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == "<template>":
            line = frame.lineno
    return line


def _words(exc: BaseException) -> str:
    line = _line_of(exc)
    prefix = f"line {line}: " if line else ""
    if isinstance(exc, SecurityError):
        match = re.search(r"attribute '([^']+)'", str(exc))
        if match:
            return f"{prefix}templates cannot reach '{match.group(1)}'"
        return f"{prefix}{_reason(exc)}"
    return f"{prefix}{_reason(exc)}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TemplateNotFound):
        return (f"there is no template {exc.name!r} to extend, import or include (there are "
                "\"layout.html\" and \"_components.html\")")
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, SecurityError) and "unsafe" in message:
        return "templates cannot do this: " + message
    return message


def check_templates(step: dict[str, Any]) -> dict[str, str]:
    """Errors by field of an email step's sources; empty when they compile, reach nothing
    they must not, and render with `sample_variables()`."""
    errors: dict[str, str] = {}
    for field in ("subject", "html"):
        if not isinstance(step.get(field), str) or not step[field].strip():
            errors[field] = "is required"
    for field in FIELDS:
        source = step.get(field)
        if field in errors or source is None:
            continue
        if not isinstance(source, str):
            errors[field] = "must be text"
            continue
        try:
            tree = _HTML_ENV.parse(source)
            _compiled(source, field == "html")
        except TemplateSyntaxError as exc:
            errors[field] = f"line {exc.lineno}: {exc.message}"
            continue
        refusals = _static_refusals(tree)
        if refusals:
            errors[field] = "; ".join(dict.fromkeys(refusals))
    if errors:
        return errors
    try:
        render_email(step, sample_variables())
    except TemplateRefused as exc:
        errors.update(exc.errors)
    return errors


# -- rendering --------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")


def _render_field(field: str, source: str, variables: dict[str, Any], *, html: bool) -> str:
    budget = _work_left.set([_WORK_MAX])
    try:
        return _compiled(source, html).render(variables)
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError,
            AttributeError, RecursionError, OverflowError) as exc:
        # Whatever a template does wrong is the template's fault, said in words.
        raise TemplateRefused({field: _words(exc)}) from exc
    finally:
        _work_left.reset(budget)


def render_email(step: dict[str, Any], variables: dict[str, Any]) -> RenderedEmail:
    """The step rendered with `variables`: a one-line subject, the HTML with its CSS inlined,
    the text part (the step's `text`, else derived from the HTML by
    `app.email.text.html_to_text`) and the preheader.
    Raises TemplateRefused (field → why) for any failure of the merchant's sources."""
    subject_source = step.get("subject") or ""
    subject = _SPACE.sub(" ", _render_field("subject", subject_source, variables,
                                            html=False)).strip()[:SUBJECT_MAX]
    preheader = None
    if step.get("preheader"):
        preheader = _SPACE.sub(" ", _render_field("preheader", step["preheader"], variables,
                                                  html=False)).strip() or None
    html_variables = {**variables, "preheader": preheader or "", "subject": subject}
    raw_html = _render_field("html", step.get("html") or "", html_variables, html=True)
    try:
        html = _INLINER.inline(raw_html)
    except ValueError as exc:  # css_inline's InlineError: CSS it cannot parse
        raise TemplateRefused({"html": f"the CSS cannot be inlined: {exc}"}) from exc
    if step.get("text"):
        text = _render_field("text", step["text"], html_variables, html=False)
    else:
        text = html_to_text(raw_html)
    return RenderedEmail(subject, html, text, preheader)
