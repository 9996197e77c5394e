"""Handing messages to the mail server.

FOUNDATION STUB: the email package's owner completes it (smtps, STARTTLS, auth, reconnect,
the outbox). The contract the flow engine relies on:

- `open_transport(app)` gives a `Transport`; `send(msg)` hands over one message on a
  connection reused across calls; `close()` ends it.
- `send` raises `HardRefusal` when the server refused the recipient or the message for good
  (a 5xx): the address is then suppressed; `SoftFailure` for anything that may pass later
  (4xx, connection lost, timeout): the engine records the message as failed and never resends
  it (see app/flows/sending.py).
- Without SMTP_URL the transport is the outbox: `send` returns and the engine stores the raw
  message in `outbox_mail`; `Transport.outbox` is True.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import Flask


class SendFailed(Exception):
    pass


class HardRefusal(SendFailed):
    pass


class SoftFailure(SendFailed):
    pass


class Transport:
    outbox = False

    def send(self, msg: EmailMessage) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class OutboxTransport(Transport):
    outbox = True

    def send(self, msg: EmailMessage) -> None:
        return None


class SMTPTransport(Transport):
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._conn is None:
            cls = smtplib.SMTP_SSL if self.ssl else smtplib.SMTP
            conn = cls(self.host, self.port, timeout=self.timeout)
            if self.user:
                conn.login(self.user, self.password or "")
            self._conn = conn
        return self._conn

    def send(self, msg: EmailMessage) -> None:
        try:
            refused = self._connect().send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise (HardRefusal if code >= 500 else SoftFailure)(f"{code} {text!r}") from exc
        except smtplib.SMTPResponseException as exc:
            cls = HardRefusal if exc.smtp_code >= 500 else SoftFailure
            raise cls(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise SoftFailure(str(exc) or type(exc).__name__) from exc
        if refused:
            raise HardRefusal(str(refused))

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._conn = None


def open_transport(app: Flask) -> Transport:
    url = app.config.get("SMTP_URL")
    return SMTPTransport(url) if url else OutboxTransport()
