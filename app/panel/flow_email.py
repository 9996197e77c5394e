"""`/admin/flows/<id>/steps/<step_id>`: an email step's editor (subject, preheader, HTML,
text), its live preview rendered with one of the store's real customers, the sandbox's
refusals next to the field they are about, and a test send to the merchant.

The preview is `app.email.render.render_email` with `app.flows.variables.for_customer`
(the values a real send would use for that shopper), drawn into a sandboxed iframe whose
policy lets no script run. `POST .../preview` answers JSON for the page's script, which
redraws the preview as the merchant types; without the script the Preview button does the
same on the server."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, g, jsonify, redirect, render_template, request
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import db
from app.email import render
from app.flows.catalog import checked_address, test_send_refusals
from app.flows.definition import FlowInvalid
from app.flows.sending import test_send
from app.flows.service import get_flow, update_flow
from app.flows.variables import for_customer
from app.panel import bp
from app.panel.door import panel_page, panel_url
from app.panel.flow_conditions import options
from app.panel.flow_forms import EmailForm, TestSendForm
from app.panel.flow_steps import rows_from_tree
from app.profiles.models import Customer

PREVIEW_CUSTOMERS = 25
EMAIL_FIELDS = ("subject", "preheader", "html", "text")
# The preview may show the store's images; it runs no script and loads nothing else.
PREVIEW_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:; "
                  "font-src data: https:")


@dataclass
class Preview:
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    note: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "preheader": self.preheader,
                "html": framed(self.html) if self.html else "", "text": self.text,
                "errors": self.errors, "note": self.note}


def framed(html: str) -> str:
    """The email's HTML as the preview frame's document, under a policy that runs no script."""
    return (f'<meta http-equiv="Content-Security-Policy" content="{PREVIEW_POLICY}">'
            + html)


def _customer_choices(session: Session, shop_id: int, wanted: int | None
                      ) -> list[tuple[str, str]]:
    rows = list(session.execute(
        select(Customer.id, Customer.first_name, Customer.last_name, Customer.email)
        .where(Customer.shop_id == shop_id, Customer.deleted_at.is_(None),
               Customer.email.is_not(None))
        .order_by(Customer.last_order_at.desc().nulls_last(), Customer.id.desc())
        .limit(PREVIEW_CUSTOMERS)))
    if wanted is not None and all(r.id != wanted for r in rows):
        rows += list(session.execute(
            select(Customer.id, Customer.first_name, Customer.last_name, Customer.email)
            .where(Customer.shop_id == shop_id, Customer.id == wanted,
                   Customer.deleted_at.is_(None))))
    return [(str(r.id), " ".join(p for p in (r.first_name, r.last_name) if p)
             + f" <{r.email}>") for r in rows]


def preview(session: Session, shop, step: dict[str, Any], customer_id: int | None) -> Preview:
    """The step rendered for the customer; refusals by field instead of a page error."""
    errors = render.check_templates(step)
    if errors:
        return Preview(errors=errors)
    note = None
    # No trigger context: the shopper's latest checkout and order stand in for it.
    variables = for_customer(session, shop, customer_id, step, None)
    if customer_id is None:
        note = "No customer to preview with yet: the store's own values are shown."
    try:
        rendered = render.render_email(step, variables)
    except render.TemplateRefused as exc:
        return Preview(errors=exc.errors)
    except Exception as exc:  # noqa: BLE001 - whatever a template does, the page says why
        return Preview(errors={"html": str(exc) or type(exc).__name__})
    return Preview(rendered.subject, rendered.preheader or "", rendered.html, rendered.text,
                   note=note)


def _flow_and_step(flow_id: int, step_id: str):
    flow = get_flow(db.session, g.shop.id, flow_id)
    if flow is None:
        abort(404, description=f"This store has no flow {flow_id}.")
    row = next((r for r in rows_from_tree(flow.definition.get("steps", []))
                if r.step.get("id") == step_id), None)
    if row is None or row.step.get("type") != "email":
        abort(404, description=f"The flow “{flow.name}” has no email step {step_id!r} (it "
                               "may have been removed, or not saved yet).")
    return flow, row


def _preview_customer(form: EmailForm) -> tuple[list[tuple[str, str]], int | None]:
    """The customers offered for the preview, and the one chosen (the form's, the link's,
    else the first offered: the store's latest buyer)."""
    wanted = str(form.customer_id.data or request.args.get("customer_id") or "")
    wanted_id = int(wanted) if wanted.isascii() and wanted.isdigit() and len(wanted) < 19 \
        else None
    choices = _customer_choices(db.session, g.shop.id, wanted_id)
    if wanted_id is not None and any(c[0] == str(wanted_id) for c in choices):
        return choices, wanted_id
    return choices, int(choices[0][0]) if choices else None


def _default_recipient() -> str:
    from app.accounts.service import current_account
    from app.settings.service import read_settings

    account = None if g.panel.embedded else current_account()
    if account is not None:
        return account.email
    settings = read_settings(db.session, g.shop)
    return settings.reply_to or settings.sender_email or ""


def _page(flow, row, form: EmailForm, *, status: int = 200, shown: Preview | None = None,
          loose: list[str] = (), test_form: TestSendForm | None = None,
          refused: bool = False):
    session: Session = db.session
    choices, customer_id = _preview_customer(form)
    form.customer_id.choices = options(choices)
    form.customer_id.data = str(customer_id) if customer_id else ""
    step = form.step(row.step)
    shown = shown or preview(session, g.shop, step, customer_id)
    for name, why in shown.errors.items():
        target = form._fields.get(name)
        if target is not None and not target.errors:
            target.errors = [why]
    if test_form is None:
        test_form = TestSendForm(formdata=None)
        test_form.email.data = _default_recipient()
    return render_template(
        "panel/flow_email.html", flow=flow, step=row.step, form=form, preview=shown,
        preview_doc=Markup.escape(framed(shown.html)) if shown.html else "",
        loose_errors=list(loose), test_form=test_form, refused=refused,
        variables=render.VARIABLES, fields=EMAIL_FIELDS,
        active_nav="panel.flows"), status


@bp.get("/admin/flows/<int:flow_id>/steps/<step_id>")
@panel_page
def flow_email(flow_id: int, step_id: str):
    flow, row = _flow_and_step(flow_id, step_id)
    form = EmailForm(formdata=None)
    form.fill(row.step)
    return _page(flow, row, form)


@bp.post("/admin/flows/<int:flow_id>/steps/<step_id>")
@panel_page
def flow_email_save(flow_id: int, step_id: str):
    session: Session = db.session
    flow, row = _flow_and_step(flow_id, step_id)
    form = EmailForm()
    if request.form.get("action") == "preview":
        return _page(flow, row, form)
    # The sources are rendered for the preview customer first: a template that cannot be
    # rendered (a sandbox refusal, a syntax error) is refused beside its field, unsaved.
    tried = preview(session, g.shop, form.step(row.step), _preview_customer(form)[1])
    if tried.errors:
        return _page(flow, row, form, status=400, shown=tried, refused=True)
    steps = copy.deepcopy(flow.definition.get("steps", []))
    target = next(r for r in rows_from_tree(steps) if r.step.get("id") == step_id)
    target.step.clear()
    target.step.update(form.step(row.step))
    try:
        update_flow(session, flow, {"steps": steps}, saved_by=g.panel.author)
    except FlowInvalid as exc:
        session.rollback()
        flow, row = _flow_and_step(flow_id, step_id)
        prefix = target.path + "."
        mine = {k[len(prefix):]: v for k, v in exc.errors.items() if k.startswith(prefix)}
        form.show_errors(mine)
        loose = [f"{k}: {v}" for k, v in exc.errors.items() if not k.startswith(prefix)]
        return _page(flow, row, form, status=400, loose=loose, refused=True,
                     shown=Preview(errors={}) if mine else None)
    version = flow.version
    session.commit()
    flash(f"Email saved (version {version} of the flow).", "success")
    return redirect(panel_url("panel.flow_email", flow_id=flow_id, step_id=step_id,
                              customer_id=form.customer_id.data or None))


@bp.post("/admin/flows/<int:flow_id>/steps/<step_id>/preview")
@panel_page
def flow_email_preview(flow_id: int, step_id: str):
    """The preview of the sources as typed (nothing saved), as JSON."""
    _, row = _flow_and_step(flow_id, step_id)
    form = EmailForm()
    shown = preview(db.session, g.shop, form.step(row.step), _preview_customer(form)[1])
    return jsonify(shown.as_json())


@bp.post("/admin/flows/<int:flow_id>/steps/<step_id>/test")
@panel_page
def flow_email_test(flow_id: int, step_id: str):
    """Send the step as saved to the merchant, rendered for the chosen customer."""
    session: Session = db.session
    flow, row = _flow_and_step(flow_id, step_id)
    test_form = TestSendForm()
    to, why = checked_address(test_form.email.data)
    back = panel_url("panel.flow_email", flow_id=flow_id, step_id=step_id,
                     customer_id=request.form.get("customer_id") or None)
    if why:
        test_form.email.errors = [why[:1].upper() + why[1:] + "."]
        form = EmailForm(formdata=None)
        form.fill(row.step)
        return _page(flow, row, form, status=400, test_form=test_form)
    # The preview's customer (the first one offered when none was chosen).
    form = EmailForm(formdata=None)
    form.customer_id.data = request.form.get("customer_id", "")
    customer_id = _preview_customer(form)[1]
    try:
        message = test_send(session, g.shop, flow, step_id, to, customer_id=customer_id)
    except test_send_refusals() as exc:
        session.rollback()
        flash(f"The test was not sent: {exc}", "error")
        return redirect(back)
    status, reason = message.status, message.reason
    session.commit()
    if status in ("sent", "queued", "sending"):
        flash(f"Test email sent to {to}." + ("" if _has_smtp() else
                                             " Without SMTP_URL it is kept in the Outbox."),
              "success")
    else:
        flash(f"The test email to {to} was not sent ({status}): {reason}", "error")
    return redirect(back)


def _has_smtp() -> bool:
    from flask import current_app

    return bool(current_app.config.get("SMTP_URL"))
