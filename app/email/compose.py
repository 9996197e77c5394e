"""The MIME message of a rendered email: headers, the text and HTML parts, the unsubscribe
headers, the open pixel and the click redirects.

- From, Reply-To: the store's settings (app/settings/service.py); `envelope_for` fills them.
- `List-Unsubscribe: <https://APP_URL/unsubscribe/<token>>` with
  `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): mailbox providers offer
  their own unsubscribe button, which POSTs there; the visible link in the footer is the
  template's `unsubscribe_url`, the same page.
- Tracking (flow messages only, `message_pk` given): a 1×1 open pixel `/t/o/<token>` before
  `</body>`, and every http(s) link of both parts rewritten to `/t/c/<token>`, whose token
  carries `[message_pk, url]`. The unsubscribe link itself is never rewritten: it must work
  whatever becomes of tracking, and a click on it is not interest. A test send from the
  editor has no `message_pk` and is not tracked.
- Every flow message shows an unsubscribe link: a template without `{{ unsubscribe_url }}`
  (one that does not extend the layout) gets a short footer with it in both parts.
- Both parts are quoted-printable: any server takes them (no 8BITMIME needed) and no line
  exceeds SMTP's 998 characters, however long the inlined HTML's lines.
"""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass, replace
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy.orm import Session

from app.db import utcnow
from app.email import tokens
from app.email.render import RenderedEmail
from app.shops.models import Shop


@dataclass(frozen=True)
class Envelope:
    """Who a message is from and to, and its tracking links."""

    sender_name: str
    sender_email: str
    reply_to: str | None
    to: str
    unsubscribe_url: str | None = None  # GET page and one-click POST (RFC 8058)
    open_url: str | None = None  # the open pixel


def default_sender_email() -> str:
    """The address mail comes from while a store has chosen none: `no-reply@` the app's own
    host, so a test send works before the settings are filled in."""
    host = urlsplit(current_app.config.get("APP_URL") or "").hostname or "localhost"
    if host in ("localhost", "127.0.0.1") or "." not in host:
        host = "sticky.localhost"
    return f"no-reply@{host}"


def envelope_for(session: Session, shop: Shop, to: str, *,
                 message_pk: int | None = None) -> Envelope:
    """The store's sender name, address and reply-to, with the message's unsubscribe link
    and open pixel (none for a test send, which has no `message_pk`).

    Whether a flow may send at all without a chosen sender address is the sending policy's
    call (`StoreSettings.can_send`); here a missing address falls back to
    `default_sender_email()`."""
    from app.settings.service import read_settings

    settings = read_settings(session, shop)
    tracked = message_pk is not None
    return Envelope(
        sender_name=settings.sender_name or shop.name or shop.domain,
        sender_email=settings.sender_email or default_sender_email(),
        reply_to=settings.reply_to,
        to=to,
        unsubscribe_url=tokens.url("unsubscribe", message_pk) if tracked else None,
        open_url=tokens.url("open", message_pk) if tracked else None,
    )


# An <a> or <area> tag's href (rendered HTML: the value is entity-escaped).
_HREF = re.compile(r"""(<(?:a|area)\b[^>]*?\shref\s*=\s*)(["'])(.*?)\2""", re.I | re.S)
_TEXT_URL = re.compile(r"""https?://[^\s<>"'()\[\]]+""")
_BODY_END = re.compile(r"</body\s*>", re.I)
# Headers written out unfolded up to SMTP's 998 characters, so the List-Unsubscribe URL stays
# whole on its line; the parts' bodies are quoted-printable (76-character lines) regardless.
_POLICY = compat32.clone(max_line_length=998)
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


def _app_url() -> str:
    return current_app.config["APP_URL"].rstrip("/")


def _untracked(url: str, envelope: Envelope) -> bool:
    """Links never rewritten: not http(s), the unsubscribe page, or already a tracking
    redirect."""
    if not url.lower().startswith(("http://", "https://")):
        return True
    if envelope.unsubscribe_url and url == envelope.unsubscribe_url:
        return True
    base = _app_url()
    return url.startswith((f"{base}/unsubscribe/", f"{base}/t/c/", f"{base}/t/o/"))


def track_links(html: str, text: str, envelope: Envelope, message_pk: int) -> tuple[str, str]:
    """`html` and `text` with every http(s) link but the unsubscribe one pointing at its
    click redirect."""
    cache: dict[str, str] = {}

    def redirect(url: str) -> str:
        if url not in cache:
            cache[url] = tokens.url("click", [message_pk, url])
        return cache[url]

    def in_html(match: re.Match[str]) -> str:
        url = htmllib.unescape(match.group(3)).strip()
        if _untracked(url, envelope):
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{htmllib.escape(redirect(url))}{quote}"

    def in_text(match: re.Match[str]) -> str:
        url = match.group(0).rstrip(".,;:!?")
        tail = match.group(0)[len(url):]
        return match.group(0) if _untracked(url, envelope) else redirect(url) + tail

    return _HREF.sub(in_html, html), _TEXT_URL.sub(in_text, text)


def _with_unsubscribe_link(html: str, text: str, url: str) -> tuple[str, str]:
    if htmllib.escape(url) not in html and url not in html:
        html = _before_body_end(html, (
            '<p style="margin:16px 0;text-align:center;font-size:13px;color:#6d7175;">'
            f'<a href="{htmllib.escape(url)}" style="color:#6d7175;">Unsubscribe</a></p>'))
    if url not in text:
        text = text.rstrip("\n") + f"\n\nUnsubscribe: {url}\n"
    return html, text


def _before_body_end(html: str, fragment: str) -> str:
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + fragment
    at = ends[-1].start()
    return html[:at] + fragment + html[at:]


def add_open_pixel(html: str, open_url: str) -> str:
    return _before_body_end(html, (
        f'<img src="{htmllib.escape(open_url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;">'))


def compose(rendered: RenderedEmail, envelope: Envelope, *,
            message_pk: int | None = None) -> Message:
    """The message to hand to the mail server: multipart/alternative (text, then HTML), with
    tracking when `message_pk` is given (see the module's docstring).

    Built with the `compat32` classes: the same MIME as `EmailMessage`, at a fifth of the
    cost (a worker composes hundreds per second). `msg["Message-ID"]`, `as_string()` and
    `as_bytes()` are what callers use; parse it with `email.policy.default` for more."""
    html, text = rendered.html, rendered.text
    if message_pk is not None:
        if envelope.unsubscribe_url is None or envelope.open_url is None:
            envelope = replace(
                envelope,
                unsubscribe_url=envelope.unsubscribe_url or tokens.url("unsubscribe",
                                                                       message_pk),
                open_url=envelope.open_url or tokens.url("open", message_pk))
        html, text = _with_unsubscribe_link(html, text, envelope.unsubscribe_url or "")
        html, text = track_links(html, text, envelope, message_pk)
        html = add_open_pixel(html, envelope.open_url or "")

    msg = MIMEMultipart("alternative", policy=_POLICY)
    msg["From"] = formataddr((_one_line(envelope.sender_name), envelope.sender_email),
                             charset="utf-8")
    msg["To"] = _one_line(envelope.to)
    if envelope.reply_to:
        msg["Reply-To"] = _one_line(envelope.reply_to)
    msg["Subject"] = _header(rendered.subject)
    msg["Date"] = format_datetime(utcnow())
    domain = envelope.sender_email.rpartition("@")[2] or None
    msg["Message-ID"] = make_msgid(idstring=f"sticky.{message_pk}" if message_pk else "sticky",
                                   domain=domain)
    if envelope.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{envelope.unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.attach(MIMEText(text, "plain", _UTF8_QP, policy=_POLICY))
    msg.attach(MIMEText(html, "html", _UTF8_QP, policy=_POLICY))
    return msg


def _one_line(value: str) -> str:
    # A header value never carries a line break (no header injection, whatever the source).
    return " ".join(value.split())


def _header(value: str) -> str:
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8").encode()
