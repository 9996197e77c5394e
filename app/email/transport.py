"""Handing messages to the mail server (SMTP_URL), or to the local outbox without one.

The contract the flow engine relies on (app/flows/delivery.py):

- `open_transport(app)` gives a `Transport`; `send(msg)` hands over one message on a
  connection reused across calls; `close()` ends it.
- `send` raises `HardRefusal` when the server refused the recipient or the message for good
  (a 5xx to RCPT or DATA): the address is then suppressed. `SoftFailure` for anything that
  may pass later or is not the address's fault (a 4xx, a refused sender or login, the
  connection lost, a timeout): the engine records the message as failed and never resends it.
- Without SMTP_URL the transport is the outbox: `send` returns and the engine stores the raw
  message in `outbox_mail`; `Transport.outbox` is True.

SMTP_URL is `smtp://user:pass@host:port` (STARTTLS whenever the server offers it; default
port 25) or `smtps://...` (TLS from the first byte; default port 465). User and password are
percent-decoded.

**Reconnecting, and never sending twice.** A reused connection may have been dropped by the
server while idle; that shows when the next command fails. If it fails before the message's
content was handed over (the greeting, MAIL FROM, RCPT TO), the transport reconnects once
and starts that message again: the server cannot have accepted it. From the DATA command on,
a lost connection is a `SoftFailure` and the message is never retried, because the server may
have accepted it.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.generator import BytesGenerator
from email.message import Message
from email.utils import getaddresses
from io import BytesIO
from urllib.parse import unquote, urlsplit

from flask import Flask

log = logging.getLogger(__name__)


class SendFailed(Exception):
    pass


class HardRefusal(SendFailed):
    """A 5xx for the recipient or the message: suppress the address."""


class SoftFailure(SendFailed):
    """Not delivered now, not the address's fault; never resent automatically."""


class Transport:
    outbox = False

    def send(self, msg: Message) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class OutboxTransport(Transport):
    """No SMTP_URL: the engine keeps each message in the outbox (`outbox_mail`)."""

    outbox = True

    def send(self, msg: Message) -> None:
        return None


class _Dropped(Exception):
    """The connection was lost before the message was handed over: safe to start again."""


def _code_error(code: int, reply: bytes | str, what: str) -> SendFailed:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    words = f"{what}: {code} {text}".strip()
    return HardRefusal(words) if 500 <= code < 600 else SoftFailure(words)


class SMTPTransport(Transport):
    """One SMTP connection, opened on first use and reused for every message."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {url!r}")
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.tls_context = ssl.create_default_context()
        self.connections = 0  # opened so far (the benchmark and tests read it)
        self._conn: smtplib.SMTP | None = None

    def __repr__(self) -> str:  # never show the password
        scheme = "smtps" if self.ssl else "smtp"
        return f"SMTPTransport({scheme}://{self.host}:{self.port})"

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=self.tls_context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            self.connections += 1
            conn.ehlo()
            if not self.ssl and conn.has_extn("starttls"):
                conn.starttls(context=self.tls_context)
                conn.ehlo()
            if self.user:
                conn.login(self.user, self.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise SoftFailure(f"the mail server refused Sticky's login ({exc.smtp_code} "
                              f"{exc.smtp_error.decode('utf-8', 'replace')}); check "
                              "SMTP_URL") from exc
        except smtplib.SMTPResponseException as exc:
            raise SoftFailure(f"the mail server refused the connection: {exc.smtp_code} "
                              f"{exc.smtp_error.decode('utf-8', 'replace')}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise SoftFailure(f"cannot reach the mail server {self.host}:{self.port}: "
                              f"{exc or type(exc).__name__}") from exc
        return conn

    def send(self, msg: Message) -> None:
        reused = self._conn is not None
        try:
            self._send_once(msg)
        except _Dropped as dropped:
            self._discard()
            if not reused:
                raise SoftFailure(f"the mail server closed the connection: {dropped}") from None
            log.info("email.smtp.reconnect", extra={"host": self.host})
            try:
                self._send_once(msg)
            except _Dropped as again:
                self._discard()
                raise SoftFailure(f"the mail server closed the connection twice: "
                                  f"{again}") from None

    def _send_once(self, msg: Message) -> None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        sender = _address(msg["Sender"] or msg["From"])
        recipients = [addr for _, addr in getaddresses(
            [str(v) for field in ("To", "Cc", "Bcc") for v in msg.get_all(field, [])]) if addr]
        if not sender or not recipients:
            raise SoftFailure("the message has no sender or no recipient")
        options = []
        if not all(a.isascii() for a in (sender, *recipients)):
            options.append("SMTPUTF8")
        content = _flatten(msg)

        # Before DATA: nothing handed over yet; a dropped connection may be retried once.
        try:
            code, reply = conn.mail(sender, options)
            if code != 250:
                conn.rset()
                failure = _code_error(code, reply, f"the mail server refused the sender {sender}")
                raise SoftFailure(str(failure))  # the sender's problem, not the address's
            refused: list[SendFailed] = []
            for rcpt in recipients:
                code, reply = conn.rcpt(rcpt)
                if code not in (250, 251):
                    refused.append(_code_error(code, reply, f"the mail server refused {rcpt}"))
            if len(refused) == len(recipients):
                conn.rset()
                raise refused[0]
        except smtplib.SMTPServerDisconnected as exc:
            raise _Dropped(str(exc) or "connection closed") from exc
        except (ConnectionError, TimeoutError) as exc:
            raise _Dropped(str(exc) or type(exc).__name__) from exc

        # From DATA on, the server may have the message: never retried.
        try:
            code, reply = conn.data(content)
        except smtplib.SMTPDataError as exc:
            raise _code_error(exc.smtp_code, exc.smtp_error, "the mail server refused the "
                              "message") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._discard()
            raise SoftFailure(f"the connection was lost while handing the message over; the "
                              f"server may have it, so it is not resent "
                              f"({exc or type(exc).__name__})") from exc
        if code != 250:
            raise _code_error(code, reply, "the mail server refused the message")

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._discard()


def _address(value: str | None) -> str | None:
    found = getaddresses([str(value)]) if value else []
    return found[0][1] if found and found[0][1] else None


def _flatten(msg: Message) -> bytes:
    """The message as SMTP carries it: CRLF line ends, without Bcc."""
    buffer = BytesIO()
    generator = BytesGenerator(buffer, policy=msg.policy.clone(linesep="\r\n"))
    without_bcc = msg
    if msg["Bcc"] is not None:
        without_bcc = _copy_without_bcc(msg)
    generator.flatten(without_bcc, linesep="\r\n")
    return buffer.getvalue()


def _copy_without_bcc(msg: Message) -> Message:
    import copy

    clone = copy.copy(msg)
    del clone["Bcc"]
    return clone


def open_transport(app: Flask) -> Transport:
    """The SMTP transport for SMTP_URL, else the outbox."""
    url = app.config.get("SMTP_URL")
    return SMTPTransport(url) if url else OutboxTransport()
