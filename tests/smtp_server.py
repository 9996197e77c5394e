"""A real SMTP server for the tests (aiosmtpd), on a free local port.

`smtp_server` (fixture): started per test; `.url` is an SMTP_URL for it, `.messages` the
`email.message.EmailMessage`s it accepted, in order. Addresses in `.refuse` are refused with
550 (a hard refusal); in `.defer`, with 451 (a soft one).
"""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.defer: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 No such user here"
        if address.lower() in self.defer:
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SMTPServer:
    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = _free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def refuse(self) -> set[str]:
        return self.handler.refuse

    @property
    def defer(self) -> set[str]:
        return self.handler.defer

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] and address.lower() in m["To"].lower()]


@pytest.fixture
def smtp_server(app):
    server = SMTPServer()
    server.controller.start()
    previous = app.config.get("SMTP_URL")
    app.config["SMTP_URL"] = server.url
    try:
        yield server
    finally:
        app.config["SMTP_URL"] = previous
        server.controller.stop()
