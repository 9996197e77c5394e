"""`/admin/flows/outbox`: without SMTP_URL, mail is kept in `outbox_mail` instead of being
sent; here the merchant reads it, newest first, and opens one message: its headers, its HTML
(in a sandboxed frame that loads nothing from outside, so reading it never counts as an open)
and its text part."""

from __future__ import annotations

from email import policy
from email.parser import Parser
from typing import Any

from flask import abort, current_app, g, render_template, request
from markupsafe import Markup
from sqlalchemy import func, select

from app.db import db
from app.flows.history import flow_names
from app.flows.models import Message, OutboxMail
from app.panel import bp
from app.panel.door import panel_page, panel_url

PAGE_SIZE = 50
# Remote images would be the open pixel (and the store's tracking): none load here.
OUTBOX_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def parsed(raw: str) -> dict[str, Any]:
    """Headers, HTML and text of a stored MIME message."""
    msg = Parser(policy=policy.default).parsestr(raw)
    html_part = msg.get_body(preferencelist=("html",))
    text_part = msg.get_body(preferencelist=("plain",))
    return {"headers": list(msg.items()),
            "html": html_part.get_content() if html_part is not None else "",
            "text": text_part.get_content() if text_part is not None else ""}


@bp.get("/admin/flows/outbox")
@panel_page
def flow_outbox():
    session = db.session
    text = request.args.get("page", "1")
    page = int(text) if text.isascii() and text.isdigit() and 0 < int(text) < 10_000 else 1
    total = session.scalar(select(func.count()).select_from(OutboxMail)
                           .where(OutboxMail.shop_id == g.shop.id)) or 0
    rows = session.execute(
        select(OutboxMail.message_pk, OutboxMail.created_at, Message.to_email, Message.subject,
               Message.flow_id, Message.test, Message.status)
        .join(Message, Message.id == OutboxMail.message_pk)
        .where(OutboxMail.shop_id == g.shop.id, Message.shop_id == g.shop.id)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.message_pk.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template(
        "panel/flow_outbox.html", rows=rows, total=total, page=page, pages=pages,
        names=flow_names(session, g.shop.id), smtp=bool(current_app.config.get("SMTP_URL")),
        prev_url=panel_url("panel.flow_outbox", page=page - 1) if page > 1 else None,
        next_url=panel_url("panel.flow_outbox", page=page + 1) if page < pages else None,
        active_nav="panel.flows")


@bp.get("/admin/flows/outbox/<int:message_pk>")
@panel_page
def flow_outbox_message(message_pk: int):
    session = db.session
    row = session.execute(
        select(OutboxMail, Message).join(Message, Message.id == OutboxMail.message_pk)
        .where(OutboxMail.shop_id == g.shop.id, OutboxMail.message_pk == message_pk)).first()
    if row is None:
        abort(404, description=f"The outbox of this store has no message {message_pk}.")
    mail, message = row
    parts = parsed(mail.raw)
    doc = (f'<meta http-equiv="Content-Security-Policy" content="{OUTBOX_POLICY}">'
           + parts["html"]) if parts["html"] else ""
    return render_template(
        "panel/flow_outbox_message.html", mail=mail, message=message, parts=parts,
        doc=Markup.escape(doc), flow_name=flow_names(session, g.shop.id).get(message.flow_id),
        active_nav="panel.flows")
