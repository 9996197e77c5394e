"""The MIME message of a rendered email.

FOUNDATION STUB: the email package's owner completes it (List-Unsubscribe headers, the open
pixel and click rewriting, Message-ID domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from app.email.render import RenderedEmail


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, and its tracking links."""

    sender_name: str
    sender_email: str
    reply_to: str | None
    to: str
    unsubscribe_url: str | None = None  # GET page and one-click POST (RFC 8058)
    open_url: str | None = None  # the open pixel


def envelope_for(session, shop, to: str, *, message_pk: int | None = None) -> Envelope:
    """The store's sender, reply-to and the message's unsubscribe link (none for a test)."""
    from app.email import tokens
    from app.settings.service import read_settings

    settings = read_settings(session, shop)
    return Envelope(sender_name=settings.sender_name, sender_email=settings.sender_email or "",
                    reply_to=settings.reply_to, to=to,
                    unsubscribe_url=(tokens.url("unsubscribe", message_pk)
                                     if message_pk is not None else None))


def compose(rendered: RenderedEmail, envelope: Envelope, *,
            message_pk: int | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr((envelope.sender_name, envelope.sender_email))
    msg["To"] = envelope.to
    if envelope.reply_to:
        msg["Reply-To"] = envelope.reply_to
    msg["Subject"] = rendered.subject
    msg["Message-ID"] = make_msgid(domain=envelope.sender_email.rpartition("@")[2] or None)
    if envelope.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg
